// The IAM policy engine as a long-lived local process: one JSON request per line on stdin, one JSON
// answer per line on stdout, in order. A request is {"id", "simulation"} in @cloud-copilot/iam-simulate's
// Simulation shape; the answer is {"id", "result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied"}
// or {"id", "error": "..."} when the simulation could not run (an invalid policy, action or ARN).
import { createInterface } from 'node:readline';
import { runSimulation } from '@cloud-copilot/iam-simulate';

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (!line.trim()) continue;
  let id = null;
  let answer;
  try {
    const request = JSON.parse(line);
    id = request.id;
    const simulation = {
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...request.simulation,
    };
    const outcome = await runSimulation(simulation, { simulationMode: 'Strict' });
    if (outcome.resultType === 'error') {
      answer = { id, error: JSON.stringify(outcome.errors) };
    } else {
      answer = { id, result: outcome.overallResult };
    }
  } catch (error) {
    answer = { id, error: String(error && error.stack ? error.stack : error) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
}

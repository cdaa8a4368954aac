"""The CodePipeline actions local mode plays itself, as AWS would run them: Source (the package pushed to
a local git repository), Build (the image built, with CodeBuild's requests authorised as its service
role first) and the manual approval (approved at once)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from localmode.pipeline.build import (
    BuiltImage,
    build_container_image,
    build_image,
    codebuild_requests,
    image_exists,
    repository_has_images,
)
from localmode.pipeline.player import Execution, StageFailed
from localmode.pipeline.source import SourceRevision, push_package
from localmode.run.services import LocalServices


class LocalActions(LocalServices):
    """The action implementations LocalPipeline hands its PipelinePlayer (``local_actions``)."""

    progress: Any
    outputs: dict[str, str]
    revision: SourceRevision | None
    images: dict[str, BuiltImage]

    def _source_action(self, execution: Execution, action: dict[str, Any]) -> dict[str, str]:
        configuration = action["configuration"]
        self.revision = push_package(self.settings.package, self.settings.own_dir / "git" / "repository")
        self.progress(
            "Source",
            f"{configuration['FullRepositoryId']}@{configuration['BranchName']} "
            f"commit {self.revision.commit[:12]}",
        )
        return {
            "CommitId": self.revision.commit,
            "BranchName": configuration["BranchName"],
            "FullRepositoryName": configuration["FullRepositoryId"],
            "ConnectionArn": configuration["ConnectionArn"],
            "CommitMessage": "pushed by local mode",
        }

    def _build_action(self, execution: Execution, action: dict[str, Any]) -> dict[str, str]:
        assert self.revision is not None and self.emulator is not None
        self._authorise_build(execution, action)
        if self.settings.container_image:
            built = build_container_image(
                self.revision,
                self.client("ecr"),
                self.outputs["EcrRepositoryUri"],
                f"{self.settings.stack_name}-local",
            )
        else:
            built = build_image(
                self.revision, self.settings.build_dir, self.client("ecr"), self.outputs["EcrRepositoryUri"]
            )
        self.emulator.images.register(built.image_uri, built.runtime)
        self.images[built.image_uri] = built
        what = "image" if built.local_image else "runtime + package"
        how = "reused the build of this content" if built.reused else f"{what} built"
        self.progress("Build", f"{how}; content {built.content_digest[:19]}, image {built.image_digest[:19]}")
        return {"IMAGE_URI": built.image_uri, "IMAGE_DIGEST": built.image_digest}

    def _authorise_build(self, execution: Execution, action: dict[str, Any]) -> None:
        """CodeBuild's requests with the project's service role, decided before the build runs: a
        denied one fails the build with the AWS CLI's error, as the buildspec's command would."""
        if self.iam_gate is None:
            return
        project = self.client("codebuild").batch_get_projects(names=[action["configuration"]["ProjectName"]])[
            "projects"
        ][0]
        source = action["inputArtifacts"][0]["name"]
        assert self.revision is not None
        pushed = not image_exists(self.client("ecr"), self.outputs["EcrRepositoryUri"], self.revision.commit)
        cache_from = pushed and repository_has_images(self.client("ecr"), self.outputs["EcrRepositoryUri"])
        requests = codebuild_requests(
            project,
            (execution.artifact_bucket, execution.artifacts.get(source, "")),
            pushed,
            self.where(),
            cache_from,
        )
        try:
            self.iam_gate.authorise_requests(
                project["serviceRole"], "AWSCodeBuild", requests, "codebuild", "Build"
            )
        except ClientError as error:
            failure = error.response["Error"]
            raise StageFailed(
                f"{action['name']}: build failed: An error occurred ({failure['Code']}): {failure['Message']}"
            ) from error

    def _approval_action(self, execution: Execution, action: dict[str, Any]) -> dict[str, str]:
        self.progress("Approve", "manual approval auto-approved in local mode")
        return {}

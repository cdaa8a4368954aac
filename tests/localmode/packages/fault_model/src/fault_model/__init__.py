"""A model whose training rows steer it: `sleep` trains for a minute, `slow` for three seconds,
`broken` produces a model that fails to load."""

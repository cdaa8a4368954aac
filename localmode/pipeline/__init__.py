"""The pipeline played locally against aws/: the template deployed, the real handlers run, the
CodePipeline stages played, the Source and Build actions and the data trigger done here."""

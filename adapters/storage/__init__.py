"""Input storage: the files a run needs, kept until the job is over (R-A8)."""

"""The loop that runs itself: the flywheel's rounds for the server's and each person's profile."""

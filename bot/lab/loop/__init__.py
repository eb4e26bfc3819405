"""The feedback loop demonstrated end to end by simulated people (``pickloop loop-demo``)."""

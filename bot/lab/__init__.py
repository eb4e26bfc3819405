"""The lab beside the product: the feedback loop run by simulated people, for trying and
measuring the loop without a community."""

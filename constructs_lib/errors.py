"""The one exception constructs raise when a synth-time check fails."""


class SynthCheckError(Exception):
    """A construct's input breaks an AWS limit that CloudFormation would only report at deploy time."""

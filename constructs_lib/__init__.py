"""Reusable constructs, one concern each; runtime code sits beside its construct.

Constructs take typed keyword arguments and know nothing of the fleet YAML.
"""

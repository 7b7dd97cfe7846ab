"""Checkers for the exercises: each chapter has a module `chNN`; a checker prints a clear verdict and returns a bool."""

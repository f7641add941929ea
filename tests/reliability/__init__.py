"""Reliability tests: both services as real processes under failure, hostile input and load."""

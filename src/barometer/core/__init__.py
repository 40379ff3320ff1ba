"""The survey-statistics core: designs, weighting, estimators, variance and comparisons.

It knows designs, weights, domains and variance, and nothing of polls: no countries,
waves or questions. The poll and publish bands use only the names ``barometer``
re-exports from here.
"""

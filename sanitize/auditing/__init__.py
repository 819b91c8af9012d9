"""The membership-inference audit: features (forward passes, once per model and text), attacks
(cheap functions of those features), metrics, reports, and the run orchestration.

Importing this package loads no model and no torch; `sanitize.auditing.run.run(cfg)` does the work.
"""

"""Benchmark settings: the production settings plus the "floor" view.

The floor is a function view that renders a three-line template with no base
template and no queries, through the same middleware as every page: the fastest
any page of this stack could be on this machine. Each page's throughput is
reported as a ratio to it. Enabled only here, never in production.
"""

from calnet_survey.settings import *  # noqa: F403
from calnet_survey.settings import BASE_DIR, TEMPLATES

ROOT_URLCONF = "bench.urls"
TEMPLATES[0]["DIRS"] = [*TEMPLATES[0]["DIRS"], BASE_DIR / "bench" / "templates"]

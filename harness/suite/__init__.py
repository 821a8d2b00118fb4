"""Suites: YAML definitions of benchmarks, their data (hub or local release layout) and their prompts."""

from harness.suite.loader import load_questions
from harness.suite.prompt import PromptedQuestion, build_prompts
from harness.suite.spec import Question, SuiteSpec, list_suites, load_suite

__all__ = [
    "PromptedQuestion",
    "Question",
    "SuiteSpec",
    "build_prompts",
    "list_suites",
    "load_questions",
    "load_suite",
]

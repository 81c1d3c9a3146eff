from policy_review.cli import entry

entry()

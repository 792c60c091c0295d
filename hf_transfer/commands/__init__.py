"""What a command does beyond one run: a run with its follow-ups (launch), compare, diff, tune, plan, push,
predict, doctor. Above ``run``; imported by ``cli`` only."""

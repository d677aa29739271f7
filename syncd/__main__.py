from syncd.cli import run

run()

# Marks this directory as a package only so type checkers can tell the two
# run_code.py files apart; Open WebUI loads run_code.py on its own.

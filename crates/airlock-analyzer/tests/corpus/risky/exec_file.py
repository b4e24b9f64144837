# expect: AL201 AL207
exec(open("strategy.py").read())

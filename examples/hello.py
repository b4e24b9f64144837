# A first program for Airlock. It runs in a fresh sandbox: no network, no host files
# beyond the interpreter and its environment, its own hostname, user and processes.
# The default environment (numpy, pandas, scipy, matplotlib, seaborn) is created on first use.
import os
import platform
import socket

import numpy as np
import pandas as pd

print(f"Hello from {socket.gethostname()}: Python {platform.python_version()}, uid {os.getuid()}")
print("visible processes:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))

# A small factor: relative gap between a 5- and a 20-day moving average.
prices = pd.Series(100 + np.cumsum(np.random.default_rng(7).normal(0, 1, 60)))
factor = prices.rolling(5).mean() / prices.rolling(20).mean() - 1
print(f"numpy {np.__version__}, pandas {pd.__version__}; last factor value {factor.iloc[-1]:+.4f}")

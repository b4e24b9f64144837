# A first program for Airlock: it runs in a fresh sandbox with no network,
# no host files beyond the interpreter, and its own hostname and user.
import os
import platform
import socket

print(f"Hello from {socket.gethostname()}: Python {platform.python_version()}, uid {os.getuid()}")
print("working directory:", os.getcwd())
print("visible processes:", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))

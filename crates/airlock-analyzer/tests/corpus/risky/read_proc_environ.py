# expect: AL208
with open("/proc/self/environ", "rb") as f:
    print(f.read().split(b"\0"))

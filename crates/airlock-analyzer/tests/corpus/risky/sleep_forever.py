# expect: AL501
import time

while True:
    time.sleep(1)

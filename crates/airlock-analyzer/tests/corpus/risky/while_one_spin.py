# expect: AL501
count = 0
while 1:
    count += 1

# expect: AL208
key = open("../../../root/.ssh/id_rsa").read()
print(key)

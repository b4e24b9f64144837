# expect: AL208
print(open("/etc/passwd").read())

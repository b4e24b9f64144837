# expect: AL101 AL202 AL203
os_module = __import__("os")
os_module.system("id")

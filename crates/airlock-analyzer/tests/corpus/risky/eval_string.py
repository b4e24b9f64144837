# expect: AL201
expr = "__import__('os').getcwd()"
result = eval(expr)
print(result)

# expect: AL201 AL305
__builtins__.__dict__["exec"]("print('hidden')")

# expect: AL201 AL305
vars(__builtins__)["eval"]("2 + 2")

# expect: AL406
name = "\u0065\u0076\u0061\u006c"
func = globals()[name] if name in globals() else None

# expect: AL101 AL203
import pty

pty.spawn("/bin/bash")

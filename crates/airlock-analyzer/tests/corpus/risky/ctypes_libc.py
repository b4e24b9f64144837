# expect: AL101 AL206
import ctypes

libc = ctypes.CDLL("libc.so.6")
libc.system(b"id")

# expect: AL201
payload = """
import socket
s = socket.socket()
"""
exec(payload)

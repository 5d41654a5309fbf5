"""Serve a GGUF model over llama.cpp's OpenAI-compatible HTTP API (xllamacpp's embedded
llama.cpp server) until killed. Usage: serve.py MODEL HOST PORT. Used by tests/llm_real.rs."""
import sys, time, xllamacpp as xlc
model, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = xlc.CommonParams()
p.model.path = model
p.n_ctx = 8192
p.port = port
p.hostnames = [host]
p.cpuparams.n_threads = 2
s = xlc.Server(p)
print("started", flush=True)
while True:
    time.sleep(3600)

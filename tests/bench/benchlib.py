"""What the benchmark scripts share: ports and wrk's output."""
import os
import re
import socket
import subprocess
import sys
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, who):
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit("%s: nothing listens on %d" % (who, port))


def run_hotelmux(binary, config, port, log, who):
    """Start `binary -c config` on 127.0.0.1:port (output to the open file log); returns its Popen once
    it listens (killed, and the script exits, if it never does)."""
    p = subprocess.Popen([binary, "-c", config, "--listen", "127.0.0.1:%d" % port], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        wait_port(port, who)
    except SystemExit:
        p.kill()
        raise
    return p


def suppliers_lua(present, latency_ms, sims_at=0, webhooks_to=0):
    """Lua for a benchmark config built on the demo's (`base`): only the suppliers present, no outbound
    QPS cap, each simulator answering after latency_ms. sims_at: the gateway calls the simulators in
    the hotelmux on that port; webhooks_to: the simulators push their webhooks to the gateway there."""
    return """local keep = { %(keep)s }
for name, s in pairs(base.suppliers) do
  if keep[name] then
    s.qps = 1e9; s.sim = { latency_ms = %(lat)d }
    if %(at)d > 0 then s.base_url = "http://127.0.0.1:%(at)d" .. s.base_url end
    if %(to)d > 0 then s.webhook_url = "http://127.0.0.1:%(to)d/webhooks/" .. name end
  else
    base.suppliers[name] = nil
  end
end
""" % {"keep": ", ".join("%s = true" % s for s in present), "lat": latency_ms, "at": sims_at, "to": webhooks_to}


def wrk_ms(out, label):
    """A latency line of wrk --latency ("50%", "99%", ...) in milliseconds (nan if absent)."""
    m = re.search(r"^\s+%s\s+([\d.]+)(us|ms|s)\s*$" % re.escape(label), out, re.M)
    if not m:
        return float("nan")
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def cpu_seconds(pid):
    """A process's user + system CPU time so far (its share of a shared machine)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


NGINX_MAIN = """%(modules)s
worker_processes %(workers)d;
daemon off;
error_log %(t)s/nginx-error.log;
pid %(t)s/nginx.pid;
events { worker_connections %(conns)d; }
http {
  access_log off;
  client_body_temp_path %(t)s; proxy_temp_path %(t)s; fastcgi_temp_path %(t)s;
  uwsgi_temp_path %(t)s; scgi_temp_path %(t)s;
%(http)s
}
"""


def start_nginx(tmp, workers, port, http, modules="", conns=4096):
    """nginx in the foreground with its config, pid and logs in tmp; http is the
    inside of its http block (servers listening on port), modules its load_module lines."""
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_MAIN % {"modules": modules, "workers": workers, "t": tmp, "conns": conns, "http": http})
    p = subprocess.Popen(["nginx", "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "nginx-error.log")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, "nginx")
    return p

# What the broker benchmarks share; source it from the repository root:
#   . tests/bench/common.sh
# Builds the release connectd ($CONNECTD), makes a work folder ($WORK, removed on exit with
# every background job killed) and a results file ($RESULTS), and defines:
#   free_port             a free TCP port on 127.0.0.1
#   wait_port PORT [N]    waits up to N x 50 ms (default 200) for PORT to accept
#   mbs                   the MB/s of `connectd perf`'s last line, from stdin
#   record WHAT METRIC V  appends "WHAT METRIC V RUN" to $RESULTS ($run, else 0) and prints it
#   tls_certificates      a CA and a localhost certificate in $WORK (ca.pem, broker.pem, broker.key)
cargo build --release -q -p connectd
CONNECTD=$PWD/target/release/connectd
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait; rm -rf "$WORK"' EXIT
RESULTS=$WORK/results
: > "$RESULTS"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq "${2:-200}"); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; return 1; }
mbs() { sed -n 's/.* \([0-9.]*\) MB\/s$/\1/p'; }
record() { echo "$1 $2 $3 ${run:-0}" | tee -a "$RESULTS"; }
# tls_certificates: a CA ($WORK/ca.pem) and a certificate for localhost and 127.0.0.1 signed
# by it ($WORK/broker.pem, the chain, and $WORK/broker.key), RSA 2048 as most deployments use.
tls_certificates() {
  (
    cd "$WORK"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=bench CA" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out broker.crt -days 2 -extfile ext 2>/dev/null
    cat broker.crt ca.pem > broker.pem
  )
}

# Shell functions shared by bench/run.sh and bench/dnssec.sh (sourced, not run). The caller
# sets WORK (its temporary directory) and defines die().

# make_certs: a small CA and a leaf for bench.test (CA:FALSE, SAN DNS:bench.test) in
# $WORK/pki; sets CA, LEAF and LEAF_KEY.
make_certs() {
    local d=$WORK/pki
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 30 -subj "/CN=strictdot bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$d/leaf.key" -out "$d/leaf.csr" -subj "/CN=bench.test" 2>/dev/null
    cat >"$d/leaf.ext" <<'EXT'
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:bench.test
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EXT
    openssl x509 -req -in "$d/leaf.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 30 -extfile "$d/leaf.ext" -out "$d/leaf.pem" 2>/dev/null
    openssl verify -CAfile "$d/ca.pem" "$d/leaf.pem" >/dev/null || die "leaf certificate does not verify"
    CA=$d/ca.pem
    LEAF=$d/leaf.pem
    LEAF_KEY=$d/leaf.key
}

# kresd_forward_lua UP_PORT CA: the Knot Resolver configuration lines that forward every
# query over DoT to the benchmark upstream (bench.test, checked against CA), with the
# modules unloaded that would send queries of their own or watch the clock.
kresd_forward_lua() {
    cat <<LUA
modules.unload('priming')
modules.unload('detect_time_skew')
modules.unload('detect_time_jump')
modules.unload('ta_signal_query')
policy.add(policy.all(policy.TLS_FORWARD({
    { '127.0.0.1@$1', hostname = 'bench.test', ca_file = '$2' } })))
LUA
}

# unbound_dot_upstream PORT: the server lines of the benchmark upstream Unbound: DoT only on
# PORT with the bench.test leaf (LEAF, LEAF_KEY), one thread, many long-lived connections.
unbound_dot_upstream() {
    cat <<CONF
    interface: 127.0.0.1@$1
    tls-port: $1
    tls-service-key: "$LEAF_KEY"
    tls-service-pem: "$LEAF"
    num-threads: 1
    do-udp: no
    incoming-num-tcp: 1000
    tcp-idle-timeout: 120000
    edns-tcp-keepalive: yes
    edns-tcp-keepalive-timeout: 120000
CONF
}

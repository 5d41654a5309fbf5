module kubeguard.invalid/bench/auditdecode

go 1.22

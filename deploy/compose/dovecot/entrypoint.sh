#!/bin/sh
# Prepares the trial's Dovecot, then runs it in the foreground:
# - a self-signed certificate for "dovecot", made once and kept in the
#   dovecot-tls volume; its public half is copied to the imap-ca volume,
#   which recevable mounts as the CA it trusts (imap.accounts[].ca_file);
# - the users file, from the imap_password compose secret.
set -eu

tls=/etc/dovecot/tls
if [ ! -s "$tls/dovecot.crt" ] || [ ! -s "$tls/dovecot.key" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 825 \
		-subj /CN=dovecot -addext subjectAltName=DNS:dovecot,DNS:localhost \
		-keyout "$tls/dovecot.key" -out "$tls/dovecot.crt" 2>/dev/null
	chmod 0600 "$tls/dovecot.key"
fi
cp "$tls/dovecot.crt" /export/imap-ca/dovecot.crt
chmod 0644 /export/imap-ca/dovecot.crt

password=$(cat /run/secrets/imap_password)
umask 027
printf 'depot@recevable.test:{PLAIN}%s\n' "$password" > /etc/dovecot/users
chgrp dovecot /etc/dovecot/users

exec dovecot -F

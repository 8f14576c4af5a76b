/*
 * sendmail - the `sendmail` command scripts and mail programs expect
 * (`petrel sendmail`, or petrel invoked through a symlink named sendmail):
 * reads one message on stdin and queues it through the maildrop
 * (queue/pickup.h), without a network connection and whether or not the
 * daemon is running. Exit status 0 means the message is durable on disk.
 *
 *   sendmail [-t] [-i|-oi] [-f ADDR] [-F NAME] [-c CONFIG] [ADDR...]
 *
 * -t takes recipients from the To:, Cc: and Bcc: header fields (RFC 5322
 * 3.6.3) in addition to the arguments; -i / -oi: a line with a single dot
 * does not end the message (without them it does, as in classic sendmail);
 * -f (or -r) sets the envelope sender ("<>" for none), by default the
 * invoking user's name at the first local domain (or the hostname); -F
 * gives the full name for a From: field added when the message has none;
 * -c names the config (else $PETREL_CONFIG, else /etc/petrel/petrel.conf).
 * Harmless legacy options are accepted and ignored: -bm, -B TYPE, -oeX,
 * -odX, -om, -v. Anything else is a usage error.
 *
 * The message: line ends become CRLF (a bare CR or LF ends a line, as the
 * SMTP server's DATA reader treats them), the size is bounded by
 * max-message-size, missing Date: and Message-ID: fields are added (RFC 5322
 * 3.6.1, 3.6.4) and From: when missing (3.6.2); Bcc: fields are always
 * removed (3.6.3: their recipients must stay hidden), and so is Return-Path:
 * (RFC 5321 4.4: final delivery adds it).
 *
 * Exit status (sysexits.h): 0 queued; 64 usage or bad address; 65 message
 * too large; 74 stdin unreadable; 75 the message could not be queued (disk
 * full, no config, no maildrop permission): try again later.
 */
#ifndef PETREL_SUBMIT_SENDMAIL_H
#define PETREL_SUBMIT_SENDMAIL_H

/* argv[0] is the command's name ("sendmail" or "petrel sendmail"'s
 * "sendmail"); options and recipients follow. Returns the exit status. */
int sendmail_main(int argc, char **argv);

#endif

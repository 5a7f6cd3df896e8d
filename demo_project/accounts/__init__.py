"""The accounts service (seed 001): a password change commits the new hash and a PasswordChanged
event together; a password-history consumer and an e-mail consumer apply it once each."""

"""Second factor (TOTP + single-use recovery codes, django-otp) for platform operators (ADMC)
and local administrators (ADML).

`policy` decides who needs it and enforces it in one middleware, whatever created the session;
`devices` wraps django-otp (enrolment, QR code, recovery codes, throttled checks); `views` are
the French pages (enrolment, verification, "Sécurité du compte")."""

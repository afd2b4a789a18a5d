# Cartable, English. Every key exists in French too: a test checks it.

site-name = Cartable
skip-to-content = Skip to content
nav-home = Home
nav-requests = Requests
nav-grants = Permissions
nav-history = History
nav-main = Main navigation
nav-language = Language
switch-to-other-language = Français
other-language-code = fr
sign-out = Sign out
footer-text = Cartable keeps your family's school data encrypted and shares it only with your consent.

# Sign in
sign-in-title = Sign in
sign-in-intro = Sign in to see your family's school data and decide who may access it.
field-login = Sign-in name
field-password = Password
sign-in-button = Sign in
sign-in-failed = Wrong sign-in name or password.
sign-in-locked = Too many attempts. Try again in a few minutes.
sign-in-busy = The server is very busy. Try again in a moment.
signed-out = You are signed out.

# Invitation
invitation-title = Welcome to Cartable
invitation-intro = You are invited to become a guardian of this family on Cartable. Choose your name, your sign-in name and your password.
invitation-intro-dpo = You are appointed data protection officer on Cartable. Choose your sign-in name and your password: you will review the consent register, never the families' data.
invitation-valid-until = This invitation is valid until { $date }.
field-name = Your name
field-name-help = As the family will see it, for example “Claire Martin”.
field-login-help = 3 to 64 characters, no spaces. You will sign in with it.
field-password-help = At least 10 characters.
field-password-again = The password, once more
invitation-button = Create my account
invitation-invalid = This invitation is not valid: it was used already, it has expired or the link is incomplete. Ask for a new one.
invitation-login-taken = This sign-in name is taken. Choose another one.
invitation-password-short = The password needs at least 10 characters.
invitation-password-mismatch = The two passwords differ.
invitation-bad-input = Check your name and your sign-in name (no spaces in the sign-in name).
invitation-done = Your account is ready. You can sign in.

# Home
home-title = Home
home-hello = Hello { $name }
home-children = The children
home-child-age = { $age } years old
home-no-collections = No data yet.
home-records = { $count ->
    [0] no items
    [one] 1 item
   *[other] { $count } items
}
home-pending = Requests awaiting your answer
home-no-pending = No request awaits your answer.
home-recent = Latest accesses by services
home-no-recent = No service has read your data yet.
home-see-requests = See and answer
home-see-history = The whole history
home-adult-note = { $name } is an adult: their data is theirs, and you no longer see it unless they allow you.

# Requests
requests-title = Access requests
requests-intro = Services ask to see some data. Nothing is shared without your consent, and you can withdraw it at any time.
requests-none = No pending request.
request-heading = { $service } asks for access to { $child }'s data
request-who = Who asks
request-child = About
request-data = Which data
request-actions = To do what
request-purpose = Why
request-basis = Legal basis
request-duration = For how long
request-days = { $days ->
    [one] 1 day
   *[other] { $days } days
} from approval
request-asked-on = Asked on { $date }
request-co-approval = { $child } is { $age }: their consent is needed as well as a guardian's.
request-adult = { $child } is an adult: they alone decide.
request-approved-by = Already approved by: { $names }
request-approved-none = Nobody has approved yet.
request-waiting-for = Waiting for the approval of: { $names }
request-approve = Approve
request-deny = Deny
request-approved = Your approval is recorded.
request-now-active = The permission is now active.
request-denied = The request is denied.
request-other-parent = a guardian
done-already = That was done already, or the request is no longer pending.

# Grants
grants-title = Permissions
grants-intro = The services you allowed, what they may see, and until when. Withdrawing a permission takes effect at once.
grants-active = Active permissions
grants-none-active = No active permission.
grants-ended = Ended permissions
grants-none-ended = No ended permission.
grant-heading = { $service }: { $child }'s data
grant-until = Until { $date }
grant-revoke = Withdraw the permission
grant-revoked = The permission is withdrawn. The service can no longer read anything.
grant-policy = The exact rule (in the Cedar language), for the curious
grant-state = State
state-requested = pending
state-active = active
state-denied = denied
state-revoked = withdrawn
state-expired = expired
state-awaiting_confirmation = awaiting confirmation

# History
history-title = History
history-intro = Who read what, and when. Every access and every decision is written to a tamper-evident register.
history-none = Nothing in the history yet.
history-when = When
history-who = Who
history-what = What
history-data = Data
history-newer = Newer
history-older = Older
history-pages = History pages
history-about = of { $child }

# Actors
actor-operator = the server's operator
actor-operator-for = the operator, for { $name }
actor-system = Cartable
actor-unknown = someone
actor-unknown-service = a service

# Events
event-request = asked for access
event-approve = approved
event-confirm = confirmed the permission
event-deny = denied
event-revoke = withdrew the permission
event-expire = permission expired
event-policy_change = changed a rule
event-access_allowed = read
event-access_denied = was refused
event-export = exported
event-import = imported
event-erasure = erased the family
event-majority_transition = came of age
event-record_write = changed a document

# Doctypes
doctype-edu-grades = the grades
doctype-edu-attendance = absences and lateness
doctype-edu-homework = the homework
doctype-edu-timetable = the timetable
doctype-edu-report-cards = the report cards
doctype-edu-certificates = certificates
doctype-edu-competencies = the skills
doctype-edu-documents = the documents
doctype-edu-followup = the follow-up notebook
doctype-health-pai = the individual care plan (health)

# Actions
action-read = read
action-list = see the list
action-search = search
action-write = add or change
action-export = export
action-manage = manage

# Legal bases
basis-consent = your consent
basis-contract = a contract with you
basis-legal-obligation = a legal obligation
basis-vital-interest = protecting a vital interest
basis-public-task = a public-service task
basis-legitimate-interest = the service's legitimate interest

# Roles
role-guardian = guardian
role-child = child

# Errors
error-title = Something went wrong
error-not-found = This page does not exist, or you do not have access to it.
error-denied = Your family's rules do not let you do this.
error-csrf = This form has expired. Reload the page and try again.
error-invalid = This request is not valid.
error-conflict = That was done already, or it is no longer possible.
error-internal = The server ran into a problem. Try again later.
error-busy = The server is very busy. Try again in a moment.
error-back-home = Back to the home page

# Dates
weekday-1 = Monday
weekday-2 = Tuesday
weekday-3 = Wednesday
weekday-4 = Thursday
weekday-5 = Friday
weekday-6 = Saturday
weekday-7 = Sunday
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
date-long = { $weekday } { $day } { $month }
date-long-year = { $weekday } { $day } { $month } { $year }
date-time = { $date } at { $hour }:{ $minute }
list-and = and

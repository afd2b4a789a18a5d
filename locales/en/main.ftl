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
request-service-description = What the service says it is
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
grant-sealed = Sealed delivery
grant-sealed-instances = { $count ->
    [0] no instance of the service can open the data any more
    [one] end-to-end encrypted for 1 instance of the service
   *[other] end-to-end encrypted for { $count } instances of the service
}
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
event-records_import = imported data
event-sealed_membership = changed who may open the sealed data
event-sealed-change = { $change ->
    [created] opened sealed delivery to { $instances } of the service's instances
    [added] let { $instances } more of the service's instances open the sealed data
    [removed] took { $instances } of the service's instances out of sealed delivery
   *[ended] closed sealed delivery: none of the service's instances can open anything new
}
event-import-counts = { $imported } new, { $duplicates } already there, { $rejected } refused

# Doctypes
doctype-edu-grades = the grades
doctype-edu-attendance = absences and lateness
doctype-edu-homework = the homework
doctype-edu-timetable = the timetable
doctype-edu-report-cards = the report cards
doctype-edu-certificates = certificates
doctype-edu-activity = learning activities
doctype-edu-enrollments = enrollments
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

# The data protection officer's console
nav-register = Register
nav-logs = Logs
nav-processing = Processing
actor-dpo = a data protection officer
dpo-register-title = Consent register
dpo-register-intro = Every request, decision and access of the families in your remit, as written in their logs. You see the register, never the children's data.
dpo-filters = Register filters
dpo-filter-service = Service (id)
dpo-filter-family = Family (id)
dpo-filter-id-placeholder = all
dpo-filter-event = Event
dpo-filter-any = all
dpo-filter-basis = Legal basis
dpo-filter-purpose = Purpose contains
dpo-filter-since = From
dpo-filter-until = To
dpo-filter-apply = Filter
dpo-filter-invalid = A filter is not valid: check the ids and the dates.
dpo-download = Download these entries:
dpo-register-none = No entry matches.
dpo-family-short = Family
dpo-next-page = Next entries
dpo-back-to-register = Back to the register
dpo-receipt-title = Consent receipt
dpo-receipt-intro = The entry as written in the family's log (ISO/IEC TS 27560 fields), with its inclusion proof.
dpo-proof-title = Inclusion proof
dpo-proof-intro = This proof (C2SP tlog-proof) shows that the entry is in the signed log. Check it offline with `cartable ledger check-proof`.
dpo-proof-download = Download the proof
dpo-proof-show = Show the proof
dpo-canonical-show = Show the exact entry (canonical JSON)
dpo-logs-title = Families' logs
dpo-logs-intro = The state of each family's log, against the last checkpoint you were shown: a rewritten history shows up as an inconsistency.
dpo-verify-all = Verify all logs
dpo-logs-failing = { $count ->
    [one] One log fails verification.
   *[other] { $count } logs fail verification.
}
dpo-logs-none = No family in your remit.
dpo-log-size = Entries
dpo-log-seen-title = Seen before
dpo-log-checkpoint = Signed checkpoint
dpo-log-broken = Verification failed at entry { $index }.
dpo-log-inconsistent = Inconsistent: the log no longer extends the checkpoint of { $seen } entries you were shown ({ $size } entries today). Its history was rewritten.
dpo-log-verified = Verified in full.
dpo-log-consistent = Consistent with what you saw.
dpo-log-first-seen = Seen for the first time.
dpo-log-seen = { $size } entries, on { $date }
dpo-log-never-seen = never
dpo-verified = { $count } logs verified, { $failing } failing.
dpo-processing-title = Record of processing
dpo-processing-intro = The record of processing activities (GDPR article 30), drawn from the grants: for each service, its purposes, legal bases, categories of data and of persons, and retention.
dpo-generated = Drawn up on
dpo-processing-csv = Download as CSV
dpo-processing-none = No grant in your remit.
dpo-actor-guardian = guardian { $id }
dpo-actor-child = child { $id }
dpo-actor-dpo = DPO { $id }
dpo-actor-operator-for = the operator, for { $id }
dpo-event-request = Request
dpo-event-approve = Approval
dpo-event-confirm = Confirmation
dpo-event-deny = Denial
dpo-event-revoke = Revocation
dpo-event-expire = Expiry
dpo-event-policy_change = Rule change
dpo-event-access_allowed = Access allowed
dpo-event-access_denied = Access denied
dpo-event-export = Export
dpo-event-import = Import
dpo-event-erasure = Erasure
dpo-event-majority_transition = Majority
dpo-event-record_write = Document changed
dpo-event-records_import = Data import
dpo-event-sealed_membership = Sealed delivery: instances
dpo-basis-consent = consent
dpo-basis-contract = contract
dpo-basis-legal-obligation = legal obligation
dpo-basis-vital-interest = vital interest
dpo-basis-public-task = public task
dpo-basis-legitimate-interest = legitimate interest
dpo-field-receipt = Receipt
dpo-field-family = Family
dpo-field-index = Position in the log
dpo-field-time = Date
dpo-field-event = Event
dpo-field-actor = By
dpo-field-subject = Data subject (child)
dpo-field-service = Service
dpo-field-grant = Grant
dpo-field-basis = Legal basis
dpo-field-data = Categories of data
dpo-field-action = Action asked
dpo-field-grant-actions = Actions granted
dpo-field-record = Document
dpo-field-validity = Validity
dpo-field-purpose-digest = Purpose digest
dpo-field-withdrawal = Withdrawing consent
dpo-field-reasons = Rules applied
dpo-field-service-id = Service id
dpo-field-purposes = Purposes
dpo-field-persons = Data subjects
dpo-field-retention = Retention
dpo-field-grants = Grants
dpo-validity = from { $from } to { $until }
dpo-persons = under { $age }: { $under } · { $age } and over: { $over } · adults: { $adults }
dpo-retention-range = { $min } to { $max } days
dpo-grants-count = active: { $active } · revoked: { $revoked } · expired: { $expired } · pending or denied: { $other }

# Right of access (GDPR, article 15)
home-report = What services know and did (right of access)
report-title = Right of access: { $child }
report-intro = Every permission about this data and everything written about it in the family's register, with, in the file to download, the proof of each entry.
report-download = Download the file (receipts and proofs)
report-grants = Permissions
report-no-grants = No permission concerns this data.
report-entries = Requests, decisions and accesses

# A child's data (their page, a page per collection, the follow-up notebook, files)
home-child-page = See their data
child-intro = What the school and the family have put here for this child. Every look is written in the family's history.
child-title-edu-grades = Grades
child-title-edu-attendance = Absences and late arrivals
child-title-edu-homework = Homework
child-title-edu-timetable = Timetable
child-title-edu-report-cards = Report cards
child-title-edu-certificates = Certificates
child-title-edu-activity = Activities
child-title-edu-enrollments = Enrollments
child-title-edu-competencies = Skills
child-title-edu-documents = Documents
child-title-edu-followup = Follow-up notebook
child-title-health-pai = Individual care plan (health)
child-heading-edu-grades = { $child }'s grades
child-heading-edu-attendance = { $child }'s absences and late arrivals
child-heading-edu-homework = { $child }'s homework
child-heading-edu-timetable = { $child }'s timetable
child-heading-edu-report-cards = { $child }'s report cards
child-heading-edu-certificates = { $child }'s certificates
child-heading-edu-activity = { $child }'s activities
child-heading-edu-enrollments = { $child }'s enrollments
child-heading-edu-competencies = { $child }'s skills
child-heading-edu-documents = { $child }'s documents
child-heading-edu-followup = { $child }'s follow-up notebook
child-heading-health-pai = { $child }'s individual care plan
child-pages = Pages
child-first-page = First page
child-next-page = Next page
child-capped = This summary covers the first 2,000 items only.
child-no-records = Nothing yet.
child-yes = yes
child-no = no
child-size-bytes = { $size } bytes
child-size-kb = { $size } KB
child-size-mb = { $size } MB
child-author-school = the school
child-author-via = { $author } (through { $service })
child-no-subject = No subject
child-no-grades = No grades yet.
child-overall = Overall average:
child-average = Average:
child-marks-count = { $count ->
    [one] 1 grade
   *[other] { $count } grades
}
child-chart-title = { $subject }: grades over time
child-chart-desc = { $count ->
    [one] 1 grade out of 20:
   *[other] { $count } grades out of 20, oldest to newest:
} { $values }
child-coefficient = weight { $coefficient }
child-col-date = Date
child-col-subject = Subject
child-col-test = Test
child-col-grade = Grade
child-all-marks = Every grade, in the order it was entered
child-month = { $month } { $year }
child-months = Months
child-previous-month = Previous month
child-next-month = Next month
child-weekday-short-1 = Mon
child-weekday-short-2 = Tue
child-weekday-short-3 = Wed
child-weekday-short-4 = Thu
child-weekday-short-5 = Fri
child-weekday-short-6 = Sat
child-weekday-short-7 = Sun
child-absence-short = Abs.
child-absence-word = Absent
child-late-short = Late
child-late-word = Late
child-absence = { $half_days ->
    [one] Absent for half a day
   *[other] Absent for { $half_days } half-days
}
child-late = Late by { $minutes } min
child-justified = excused
child-not-justified = not excused
child-attendance-totals = So far: { $half_days ->
    [one] 1 half-day of absence
   *[other] { $half_days } half-days of absence
} and { $lates ->
    [0] no late arrival
    [one] 1 late arrival
   *[other] { $lates } late arrivals
}.
child-calendar-legend = In the calendar: “Abs.” for an absence, “Late” for a late arrival.
child-month-events = This month
child-no-events = No absence or late arrival this month.
child-upcoming = To do
child-no-upcoming = Nothing to do for the coming days.
child-past = Past
child-no-past = No past homework.
child-due = Due
child-done = done
child-not-done = not marked as done
child-no-lessons = No lessons.
child-room = room
child-followup-intro = What the family and the school wrote to each other, oldest first.
child-no-notes = The notebook is empty.
child-followup-write = Write in the notebook
child-followup-submit = Add to the notebook
child-followup-added = Your message is in the notebook.
child-grade-added = The grade is added.
child-homework-added = The homework is added.
child-attendance-added = It is marked on the calendar.
child-grade-add = Add a grade
child-grade-submit = Add the grade
child-homework-add = Add homework
child-homework-submit = Add the homework
child-attendance-add = Mark an absence or a late arrival
child-attendance-submit = Mark it
child-entry-subject = Subject
child-entry-grade = Grade
child-entry-grade-help = For example 15.5
child-entry-out-of = Out of (the scale)
child-entry-coefficient = Coefficient
child-entry-date = Date
child-entry-due = Due on
child-entry-homework = What to do
child-entry-kind = Absence or late arrival
child-entry-justified = Excused
child-entry-subject-invalid = Give the subject (at most { $limit } characters).
child-entry-grade-invalid = The grade must be a number, zero or more, for example 15.5.
child-entry-scale-invalid = The scale must be a number greater than 0 (usually 20), at most 1000.
child-entry-above-scale = The grade { $grade } is above its scale: it is out of { $out_of }.
child-entry-coefficient-invalid = The coefficient must be a number greater than 0, at most 100.
child-entry-date-invalid = The date is not a valid date: pick it in the calendar (day, month, year).
child-entry-text-invalid = The text is empty or too long (at most { $limit } characters).
child-entry-kind-invalid = Choose “Absent” or “Late”.
child-no-files = No file yet.
child-download = Download
child-view = View
child-cert-issuer = Issued by
child-cert-level = Level
child-cert-date = Date
child-cert-signature = Signature
child-cert-verified = verified
child-cert-not-verified = not verified
child-cert-failed = invalid: this certificate was altered or is not its issuer's
child-upload-label = Add a file
child-upload-limit = A file of at most { $size }.
child-upload-submit = Send the file
child-file-uploaded = The file is stored.
child-upload-invalid = The file could not be read: choose one and try again.
child-upload-too-large = This file is too large.

# Family settings, passwords, a teenager's session, the history's filters and proofs
nav-settings = Settings
home-own-data = My data
invitation-intro-child = Your parents invite you to have your own access to Cartable: you will see your data and give your approval to the requests about you. Choose your sign-in name and your password.
invitation-intro-guardian-sign-in = Your family has moved to this Cartable server with all its data and history. Choose your sign-in name and your password to find it again.
settings-title = Family settings
settings-members = Family members
settings-signs-in = Signs in to Cartable
settings-no-sign-in = No access to Cartable
settings-too-young = No access before 15: their parents decide for them
settings-invite-child = Invite to sign in
settings-invite-child-help = From 15, a child can have their own access: they see their data and approve the requests about them, besides you.
settings-invite-guardian = Invite another parent
settings-invitations = Pending invitations
settings-invited-by = sent by
settings-invitation-guardian = Another parent
settings-invitation-child = { $name }'s access
settings-link-guardian = Invitation link for the other parent
settings-link-child = Invitation link for { $name }
settings-family-name = Family: { $name }
settings-link-once = Give this link to the person you invite, in a safe way. It works once, for 7 days, and will not be shown again.
settings-child-too-young = A child can have their own access only from the age of 15.
settings-child-password = Choose a new password
settings-child-password-button = Save the password
settings-child-password-set = The new password is saved. The sessions opened with the old one are closed.
settings-account = My account
settings-prohibitions = Never share
settings-prohibitions-intro = A prohibition overrides every permission: no service receives this data of your minor children, even with your approval.
settings-prohibitions-own = Your prohibitions override every permission: no service receives this data.
settings-prohibitions-readonly = What your parents forbade to share, whatever the permissions.
settings-never-shared = never shared
settings-forbid = Never share
settings-lift = Lift the prohibition
settings-forbidden = The prohibition is in place. It is written in the register.
settings-lifted = The prohibition is lifted. This is written in the register.
settings-delete = Delete the family
settings-delete-warning = Warning: everything is erased, for good. The children's data, the documents, the permissions and every member's account disappear, and nobody can get them back. Only the register keeps a trace of the erasure, without any personal data.
settings-delete-type = To confirm, type the family's name: { $name }
settings-delete-button = Delete the family for good
settings-archive = All our data
settings-archive-intro = Download in one archive everything you can see here: the children's data, their files, the permissions and the history of accesses, with what it takes to check it was not altered. It opens offline (index.html); if you manage every child's data, it can also be imported into another Cartable server.
settings-archive-passphrase = Passphrase (optional)
settings-archive-passphrase-help = At least 8 characters. With a passphrase the archive is encrypted (age): keep it, it cannot be recovered.
settings-archive-button = Download our data
settings-archive-short = The passphrase must be at least 8 characters.
settings-delete-mismatch = The name typed is not the family's: nothing was deleted.
settings-erased = The family was deleted. Every session is closed.
password-title = Change my password
password-intro = After the change you stay signed in here; everywhere else you will have to sign in again.
password-current = Current password
password-new = New password
password-button = Change the password
password-wrong-current = The current password is not right: nothing changed.
password-changed = Your password is changed. Your other sessions are closed.
history-filters = Filter the history
history-filter-child = Child
history-filter-any-child = All children
history-filter-service = Service
history-filter-any-service = All services
history-filter-event = Event
history-filter-any-event = All events
history-filter-from = From
history-filter-to = To
history-filter-apply = Filter
history-filter-clear = Show everything
history-none-filtered = Nothing matches these filters.
history-event-request = Requests
history-event-approve = Approvals
history-event-confirm = Confirmations
history-event-deny = Refusals
history-event-revoke = Withdrawals
history-event-expire = Expiries
history-event-policy_change = Rule changes
history-event-access_allowed = Reads
history-event-access_denied = Refused accesses
history-event-export = Exports
history-event-record_write = Documents changed
history-event-records_import = Data imports
history-event-sealed_membership = Sealed delivery
history-receipt-link = Receipt and proof
history-verification = The register's integrity
history-verification-intro = The register is a signed chain: anyone can check that nothing was erased or changed in it.
history-verify = Check the register now
history-verified = The register is intact: its { $count } entries were checked one by one.
history-verify-failed = The check failed: the register was altered. The operator and the data protection officer are warned by the server's log.
history-checkpoint-show = See the signed checkpoint
receipt-title = Receipt of an entry
receipt-back = Back to the history
receipt-index = Position in the register
receipt-id = Receipt
receipt-grant = Permission
receipt-reasons = Rules applied
receipt-proof-title = Inclusion proof
receipt-proof-intro = This file proves that this receipt is in the family's signed register; it can be checked without Cartable, with the register's public key.
receipt-proof-download = Download the proof
receipt-proof-show = See the proof
receipt-canonical-show = See the receipt as it is signed

# Accesses per grant
grant-no-access = No recent access under this permission.
grant-accesses = { $count ->
    [one] 1 recent access (show)
   *[other] { $count } recent accesses (show the latest)
}

# Search
search-title = Search
search-label = Search the family's data
search-button = Search
search-placeholder = Word, subject…
search-help = Words, "a phrase", -word to leave it out, pre* for the start of a word.
search-period = Period
search-from = From
search-to = To
search-explain-title = How to search
search-explain-words = what holds all of these words
search-explain-phrase = this exact phrase, in quotation marks
search-explain-exclude = without this word (a dash before it)
search-explain-prefix = words that start with “math” (at least two letters before the asterisk)
search-explain-accents = Accents and capitals do not count: “eleve” finds “élève”. You only find what your family's rules let you see.
search-total = { $count ->
    [0] No result
    [one] 1 result
   *[other] { $count } results
}
search-none = No result. Try other words, another period, or remove a filter.
search-unreadable = { $count ->
    [one] 1 file could not be read: the search finds it by its name only.
   *[other] { $count } files could not be read: the search finds them by their names only.
}
search-narrow = Narrow the search
search-by-child = By child
search-by-doctype = By kind of data
search-any-child = All children
search-any-doctype = All kinds
search-results = Results
search-pages = Pages of results
search-previous = Previous page
search-next = Next page
search-position = Page { $page } of { $pages }
search-error-empty = Write what you are looking for.
search-error-too-long = The search is too long: make it shorter.
search-error-too-many-words = The search has too many words (32 at most).
search-error-unclosed-quote = A quotation mark is not closed: add the one that ends the phrase, or remove it.
search-error-short-prefix = Put at least two letters before the asterisk (*).
search-error-only-exclusions = The search only leaves words out: say what you are looking for too.
search-error-query = This search is not valid: check the quotation marks, dashes and asterisks.
search-error-refused = This search cannot be made: it holds only very common words (such as “le”, “de”, “et”). Add a word that says what you are looking for.
search-error-date = A date of the period is not valid: write its day, month and year.
search-error-period = The period's start is after its end.

# The import page (a family brought here from its archive)
import-title = Move a family to this server
import-intro = Choose your family's archive (the “.zip” file your former Cartable server exported). Everything is checked before anything is written: every file's fingerprint, the signed history, the grants. Nothing is written if the archive is refused.
import-file = The family's archive
import-passphrase = Passphrase (if the archive is encrypted)
import-passphrase-help = Leave it empty if the archive was not exported with a passphrase.
import-button = Move the family
import-invalid = This move link is not valid: it may have been used or have expired. Ask the server's administrator for another one.
import-no-file = Choose the archive's file.
import-refused = The archive was refused and nothing was written. The reason, as the check gave it:
import-too-large = This archive is larger than this server accepts.
import-done-title = Your family has moved
import-done-summary = { $records } records, { $files } files and { $entries } history entries were moved, with the grants and prohibitions.
import-done-sign-in = Sign-in names and passwords never travel in an archive: each guardian chooses theirs with their link, valid for 7 days. Keep these links to yourselves.
import-done-link = choose my sign-in name and password

# Import of a learning platform's export (xAPI) on the activities page
import-xapi-title = Activities import
import-xapi-label = Import a platform's export (xAPI)
import-xapi-help = A JSON file of xAPI statements. Everything is checked before anything is saved: if a statement is refused, nothing is imported, unless you tick the box below. Sending the same file twice adds nothing.
import-xapi-partial = Keep the valid statements even if others are refused
import-xapi-submit = Import
import-xapi-done = { $imported ->
    [0] Nothing new
    [one] One item imported
   *[other] { $imported } items imported
}, { $duplicates } already there, { $rejected } { $rejected ->
    [one] statement refused
   *[other] statements refused
}.
import-xapi-refused = { $rejected ->
    [one] One statement is refused
   *[other] { $rejected } statements are refused
}: nothing was imported. Fix the file, or tick "Keep the valid statements".
import-xapi-problems = Refused statements
import-xapi-line = Line { $line }
import-more = … and { $count } more.
import-xapi-back = Back to the activities
import-xapi-invalid = This file is not a readable xAPI export: nothing was imported.
import-file-too-large = This file is too large to import here (32 MiB at most).

# Import of an Open Badge on the certificates page
import-badge-title = Badge import
import-badge-label = Import a badge or digital certificate (Open Badges)
import-badge-help = An Open Badges 2.0 or 3.0 badge, or a CLR record: a JSON file, a JWT, or a baked PNG or SVG image. Its signature is checked when that can be done without the network, and the outcome is shown with it.
import-badge-partial = Keep a record's valid badges even if others are refused
import-badge-submit = Import the badge
import-badge-done = { $imported ->
    [0] Nothing new
    [one] One badge imported
   *[other] { $imported } badges imported
}, { $duplicates } already there, { $rejected } refused.
import-badge-refused = { $rejected ->
    [one] One badge is refused
   *[other] { $rejected } badges are refused
}: nothing was imported.
import-badge-problems = Refused badges
import-badge-line = Badge { $line }
import-badge-back = Back to the certificates
import-badge-invalid = This file is not a readable Open Badge: nothing was imported.

## Sign-in through an identity provider
nav-notifications = Notifications
sign-in-password-off = Password sign-in is turned off for this account: sign in with your identity provider.
oidc-sign-in-title = With your school account
oidc-sign-in-help = If you linked your Cartable account to one of these accounts, you can sign in with it.
oidc-sign-in-with = Sign in with { $name }
oidc-refused-title = Sign-in refused
oidc-back-to-sign-in = Back to the sign-in page
oidc-unknown-provider = This identity provider is not configured on this server.
oidc-unreachable = The identity provider does not answer right now. Try again later, or sign in with your password.
oidc-code-refused = The identity provider refused this answer (it was used already, expired, or was not for this sign-in). Start the sign-in again.
oidc-token-refused = The identity provider's answer could not be verified. Nobody was signed in.
oidc-token-expired = The identity provider's answer had already expired. Start the sign-in again; if this happens again, the provider's clock may be wrong.
oidc-wrong-nonce = The identity provider's answer does not belong to this sign-in. Nobody was signed in.
oidc-bad-state = This sign-in is not (or no longer) in progress in this browser: it was used already, expired, or was started elsewhere. Start again from the sign-in page.
oidc-provider-said-no = The sign-in was cancelled or refused at the identity provider.
oidc-link-denied = This account can no longer link an identity.
oidc-identity-taken = This identity is already linked to another Cartable account.
oidc-unknown-identity = This identity is not linked to any Cartable account. No account was created. Sign in with your password or your invitation link, then link this identity from "My account".
oidc-linked-title = Identity linked
oidc-linked = Your account is linked to this identity provider: you can sign in with it.
oidc-signed-in-title = Signed in
oidc-signed-in = You are signed in. The next page is opening…
oidc-to-provider-title = To your identity provider
oidc-to-provider = Your identity provider will ask you to sign in, then bring you back here.
oidc-continue = Continue
oidc-too-many = Too many sign-ins were started from this address. Try again in a few minutes, or sign in with your password.

## Notifications
notification-request = { $service } asks for access to some of your family's data: your decision is awaited.
notification-first-use = { $service } used the access your family granted it for the first time.
notification-expiring = The access granted to { $service } ends in less than a week.
notification-ended = The access granted to { $service } has ended.
notifications-title = Notifications
notifications-choose = Choose what I get by e-mail
notifications-none = No notifications yet.
notifications-new = New
email-subject-request = Cartable: a request awaits your decision
email-subject-first_use = Cartable: an access was used for the first time
email-subject-expiring = Cartable: an access ends soon
email-subject-ended = Cartable: an access has ended
email-open = To see and decide: { $link }
email-footer = You get this message because you chose to in Cartable. To change what you get: { $link }

## A member's account
settings-my-account = My notifications and sign-in
settings-password-sign-in = Password sign-in
settings-password-sign-in-on = on
settings-password-sign-in-off = off
settings-password-sign-in-turn-off = Turn password sign-in off
settings-password-sign-in-turn-on = Turn password sign-in back on
settings-password-sign-in-changed = Password sign-in was changed.
account-title = My account
account-notifications-title = Notifications by e-mail
account-notifications-intro = Your notifications always show in Cartable. Choose which ones you also get by e-mail; an e-mail never holds your children's data.
account-email-off = This server sends no e-mails for now: your notifications stay in Cartable.
account-email = E-mail address
account-email-help = Leave empty to get no e-mails.
account-kinds = Get by e-mail
account-kind-request = a request awaits my decision
account-kind-first_use = an access is used for the first time
account-kind-expiring = an access ends soon
account-kind-ended = an access has ended
account-language = Language of the e-mails
account-save = Save
account-saved = Your choices are saved.
account-bad-email = This e-mail address is not valid: nothing was changed.
account-identities-title = Identity providers
account-identities-intro = Link your account to your school account to sign in with it. Cartable keeps only a fingerprint of your identifier.
account-identity-linked = Linked since { $name }.
account-link = Link my account to { $name }
account-unlink = Unlink
account-unlinked = This identity provider is no longer linked to your account.
account-password-sign-in = Password sign-in
account-password-sign-in-on = You can also sign in with your password.
account-password-sign-in-off = Password sign-in is off: you sign in with your identity provider.
account-password-turn-off = Turn password sign-in off
account-password-turn-on = Turn password sign-in back on
account-password-sign-in-changed = Password sign-in was changed.
account-password-needs-provider = Password sign-in can be turned off only after an identity provider is linked.

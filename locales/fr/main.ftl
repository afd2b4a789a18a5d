# Cartable, français (la langue par défaut). Chaque clé existe aussi en anglais : un test le vérifie.

site-name = Cartable
skip-to-content = Aller au contenu
nav-home = Accueil
nav-requests = Demandes
nav-grants = Autorisations
nav-history = Historique
nav-main = Navigation principale
nav-language = Langue
switch-to-other-language = English
other-language-code = en
sign-out = Se déconnecter
footer-text = Cartable garde les données scolaires de votre famille, chiffrées, et ne les partage qu'avec votre accord.

# Se connecter
sign-in-title = Se connecter
sign-in-intro = Connectez-vous pour voir les données scolaires de votre famille et décider qui peut y accéder.
field-login = Identifiant
field-password = Mot de passe
sign-in-button = Se connecter
sign-in-failed = Identifiant ou mot de passe incorrect.
sign-in-locked = Trop d'essais. Réessayez dans quelques minutes.
sign-in-busy = Le serveur est très occupé. Réessayez dans un instant.
signed-out = Vous êtes déconnecté.

# Invitation
invitation-title = Bienvenue sur Cartable
invitation-intro = Vous êtes invité à devenir parent responsable de cette famille sur Cartable. Choisissez votre nom, votre identifiant et votre mot de passe.
invitation-intro-dpo = Vous êtes désigné délégué à la protection des données sur Cartable. Choisissez votre identifiant et votre mot de passe : vous consulterez le registre des consentements, jamais les données des familles.
invitation-valid-until = Cette invitation est valable jusqu'au { $date }.
field-name = Votre nom
field-name-help = Tel que la famille le verra, par exemple « Claire Martin ».
field-login-help = 3 à 64 caractères, sans espace. Vous l'utiliserez pour vous connecter.
field-password-help = Au moins 10 caractères.
field-password-again = Le mot de passe, encore une fois
invitation-button = Créer mon compte
invitation-invalid = Cette invitation n'est pas valable : elle a déjà servi, elle a expiré ou le lien est incomplet. Demandez-en une nouvelle.
invitation-login-taken = Cet identifiant est déjà pris. Choisissez-en un autre.
invitation-password-short = Le mot de passe doit avoir au moins 10 caractères.
invitation-password-mismatch = Les deux mots de passe ne sont pas identiques.
invitation-bad-input = Vérifiez votre nom et votre identifiant (sans espace dans l'identifiant).
invitation-done = Votre compte est créé. Vous pouvez vous connecter.

# Accueil
home-title = Accueil
home-hello = Bonjour { $name }
home-children = Les enfants
home-child-age = { $age } ans
home-no-collections = Aucune donnée pour l'instant.
home-records = { $count ->
    [0] aucun élément
    [one] 1 élément
   *[other] { $count } éléments
}
home-pending = Demandes qui attendent votre réponse
home-no-pending = Aucune demande n'attend votre réponse.
home-recent = Derniers accès des services
home-no-recent = Aucun service n'a encore consulté vos données.
home-see-requests = Voir et répondre
home-see-history = Tout l'historique
home-adult-note = { $name } est majeur : ses données lui appartiennent et vous ne les voyez plus, sauf s'il vous y autorise.

# Demandes
requests-title = Demandes d'accès
requests-intro = Des services demandent à voir certaines données. Rien n'est partagé sans votre accord, et vous pourrez retirer votre accord à tout moment.
requests-none = Aucune demande en attente.
request-heading = { $service } demande l'accès aux données { $child_de }
request-who = Qui demande
request-service-description = Ce que le service dit de lui
request-child = À propos de
request-data = Quelles données
request-actions = Pour faire quoi
request-purpose = Pourquoi
request-basis = Base légale
request-duration = Pour combien de temps
request-days = { $days ->
    [one] 1 jour
   *[other] { $days } jours
} à partir de l'accord
request-asked-on = Demandé le { $date }
request-co-approval = { $child } a { $age } ans : son accord est nécessaire en plus de celui d'un parent.
request-adult = { $child } est majeur : lui seul décide.
request-approved-by = Accord déjà donné par : { $names }
request-approved-none = Personne n'a encore donné son accord.
request-waiting-for = En attente de l'accord de : { $names }
request-approve = Accepter
request-deny = Refuser
request-approved = Votre accord est enregistré.
request-now-active = L'autorisation est maintenant active.
request-denied = La demande est refusée.
request-other-parent = un parent
done-already = C'était déjà fait, ou la demande n'est plus en attente.

# Autorisations
grants-title = Autorisations
grants-intro = Les services autorisés, ce qu'ils peuvent voir, et jusqu'à quand. Retirer une autorisation prend effet tout de suite.
grants-active = Autorisations actives
grants-none-active = Aucune autorisation active.
grants-ended = Autorisations terminées
grants-none-ended = Aucune autorisation terminée.
grant-heading = { $service } : données { $child_de }
grant-until = Jusqu'au { $date }
grant-sealed = Livraison scellée
grant-sealed-instances = { $count ->
    [0] plus aucune instance du service ne peut ouvrir les données
    [one] chiffrées de bout en bout pour 1 instance du service
   *[other] chiffrées de bout en bout pour { $count } instances du service
}
grant-revoke = Retirer l'autorisation
grant-revoked = L'autorisation est retirée. Le service ne peut plus rien lire.
grant-policy = La règle exacte (en langage Cedar), pour les curieux
grant-state = État
state-requested = en attente
state-active = active
state-denied = refusée
state-revoked = retirée
state-expired = expirée
state-awaiting_confirmation = en attente de confirmation

# Historique
history-title = Historique
history-intro = Qui a consulté quoi, et quand. Chaque accès et chaque décision sont inscrits dans un registre infalsifiable.
history-none = Rien dans l'historique pour l'instant.
history-when = Quand
history-who = Qui
history-what = Quoi
history-data = Données
history-newer = Plus récents
history-older = Plus anciens
history-pages = Pagination de l'historique
history-about = { $child_de }

# Acteurs
actor-operator = l'administrateur du serveur
actor-operator-for = l'administrateur, pour { $name }
actor-system = Cartable
actor-unknown = quelqu'un
actor-unknown-service = un service

# Événements
event-request = a demandé l'accès
event-approve = a donné son accord
event-confirm = a confirmé l'autorisation
event-deny = a refusé
event-revoke = a retiré l'autorisation
event-expire = autorisation expirée
event-policy_change = a changé une règle
event-access_allowed = a consulté
event-access_denied = a été refusé
event-export = a exporté
event-import = a importé
event-erasure = a effacé la famille
event-majority_transition = majorité atteinte
event-record_write = a modifié un document
event-records_import = a importé des données
event-sealed_membership = a changé qui peut ouvrir les données scellées
event-sealed-change = { $change ->
    [created] a ouvert la livraison scellée à { $instances } instance(s) du service
    [added] a permis à { $instances } instance(s) de plus du service d'ouvrir les données scellées
    [removed] a retiré { $instances } instance(s) du service de la livraison scellée
   *[ended] a fermé la livraison scellée : aucune instance du service ne peut plus rien ouvrir de nouveau
}
event-import-counts = { $imported } { $imported ->
    [one] nouvelle
   *[other] nouvelles
}, { $duplicates } déjà là, { $rejected } { $rejected ->
    [one] refusée
   *[other] refusées
}

# Types de données
doctype-edu-grades = les notes
doctype-edu-attendance = les absences et retards
doctype-edu-homework = les devoirs
doctype-edu-timetable = l'emploi du temps
doctype-edu-report-cards = les bulletins
doctype-edu-certificates = les attestations et certificats
doctype-edu-activity = les activités d'apprentissage
doctype-edu-enrollments = les inscriptions
doctype-edu-competencies = les compétences
doctype-edu-documents = les documents
doctype-edu-followup = le carnet de suivi
doctype-health-pai = le projet d'accueil individualisé (santé)

# Actions
action-read = lire
action-list = voir la liste
action-search = chercher
action-write = ajouter ou modifier
action-export = exporter
action-manage = gérer

# Bases légales
basis-consent = votre consentement
basis-contract = un contrat avec vous
basis-legal-obligation = une obligation légale
basis-vital-interest = la protection d'un intérêt vital
basis-public-task = une mission de service public
basis-legitimate-interest = l'intérêt légitime du service

# Rôles
role-guardian = parent
role-child = enfant

# Erreurs
error-title = Un problème est survenu
error-not-found = Cette page n'existe pas, ou vous n'y avez pas accès.
error-denied = Les règles de votre famille ne vous permettent pas de faire cela.
error-csrf = Ce formulaire a expiré. Rechargez la page et recommencez.
error-invalid = La demande n'est pas valable.
error-conflict = C'était déjà fait, ou ce n'est plus possible.
error-internal = Le serveur a rencontré un problème. Réessayez plus tard.
error-busy = Le serveur est très occupé. Réessayez dans un instant.
error-back-home = Revenir à l'accueil

# Dates
weekday-1 = lundi
weekday-2 = mardi
weekday-3 = mercredi
weekday-4 = jeudi
weekday-5 = vendredi
weekday-6 = samedi
weekday-7 = dimanche
month-1 = janvier
month-2 = février
month-3 = mars
month-4 = avril
month-5 = mai
month-6 = juin
month-7 = juillet
month-8 = août
month-9 = septembre
month-10 = octobre
month-11 = novembre
month-12 = décembre
date-long = { $weekday } { $day } { $month }
date-long-year = { $weekday } { $day } { $month } { $year }
date-time = { $date } à { $hour } h { $minute }
list-and = et

# Console du délégué à la protection des données
nav-register = Registre
nav-logs = Journaux
nav-processing = Traitements
actor-dpo = un délégué à la protection des données
dpo-register-title = Registre des consentements
dpo-register-intro = Chaque demande, chaque décision et chaque accès des familles de votre périmètre, tels qu'inscrits dans leurs journaux. Vous voyez le registre, jamais les données des enfants.
dpo-filters = Filtres du registre
dpo-filter-service = Service (identifiant)
dpo-filter-family = Famille (identifiant)
dpo-filter-id-placeholder = tous
dpo-filter-event = Événement
dpo-filter-any = tous
dpo-filter-basis = Base légale
dpo-filter-purpose = Finalité contient
dpo-filter-since = Du
dpo-filter-until = Au
dpo-filter-apply = Filtrer
dpo-filter-invalid = Un filtre n'est pas valable : vérifiez les identifiants et les dates.
dpo-download = Télécharger ces entrées :
dpo-register-none = Aucune entrée ne correspond.
dpo-family-short = Famille
dpo-next-page = Entrées suivantes
dpo-back-to-register = Retour au registre
dpo-receipt-title = Reçu de consentement
dpo-receipt-intro = L'entrée telle qu'elle est inscrite dans le journal de la famille (champs ISO/IEC TS 27560), avec sa preuve d'inclusion.
dpo-proof-title = Preuve d'inclusion
dpo-proof-intro = Cette preuve (format C2SP tlog-proof) montre que l'entrée est dans le journal signé. Vérifiez-la hors ligne avec « cartable ledger check-proof ».
dpo-proof-download = Télécharger la preuve
dpo-proof-show = Voir la preuve
dpo-canonical-show = Voir l'entrée exacte (JSON canonique)
dpo-logs-title = Journaux des familles
dpo-logs-intro = L'état du journal de chaque famille, comparé au dernier point de contrôle qu'on vous a montré : un historique réécrit apparaît comme une incohérence.
dpo-verify-all = Vérifier tous les journaux
dpo-logs-failing = { $count ->
    [one] Un journal ne passe pas la vérification.
   *[other] { $count } journaux ne passent pas la vérification.
}
dpo-logs-none = Aucune famille dans votre périmètre.
dpo-log-size = Entrées
dpo-log-seen-title = Déjà vu
dpo-log-checkpoint = Point de contrôle signé
dpo-log-broken = Vérification échouée à l'entrée { $index }.
dpo-log-inconsistent = Incohérent : le journal ne prolonge plus le point de contrôle de { $seen } entrées qu'on vous a montré ({ $size } entrées aujourd'hui). Son historique a été réécrit.
dpo-log-verified = Vérifié en entier.
dpo-log-consistent = Cohérent avec ce que vous avez vu.
dpo-log-first-seen = Vu pour la première fois.
dpo-log-seen = { $size } entrées, le { $date }
dpo-log-never-seen = jamais
dpo-verified = { $count } journaux vérifiés, { $failing } en échec.
dpo-processing-title = Registre des traitements
dpo-processing-intro = Le registre des activités de traitement (RGPD, article 30), établi à partir des autorisations : pour chaque service, ses finalités, ses bases légales, les catégories de données et de personnes, la durée de conservation.
dpo-generated = Établi le
dpo-processing-csv = Télécharger en CSV
dpo-processing-none = Aucune autorisation dans votre périmètre.
dpo-actor-guardian = parent { $id }
dpo-actor-child = enfant { $id }
dpo-actor-dpo = délégué { $id }
dpo-actor-operator-for = l'administrateur, pour { $id }
dpo-event-request = Demande
dpo-event-approve = Accord
dpo-event-confirm = Confirmation
dpo-event-deny = Refus
dpo-event-revoke = Retrait
dpo-event-expire = Expiration
dpo-event-policy_change = Changement de règle
dpo-event-access_allowed = Accès autorisé
dpo-event-access_denied = Accès refusé
dpo-event-export = Export
dpo-event-import = Import
dpo-event-erasure = Effacement
dpo-event-majority_transition = Majorité
dpo-event-record_write = Modification d'un document
dpo-event-records_import = Import de données
dpo-event-sealed_membership = Livraison scellée : instances
dpo-basis-consent = consentement
dpo-basis-contract = contrat
dpo-basis-legal-obligation = obligation légale
dpo-basis-vital-interest = intérêt vital
dpo-basis-public-task = mission de service public
dpo-basis-legitimate-interest = intérêt légitime
dpo-field-receipt = Reçu
dpo-field-family = Famille
dpo-field-index = Position dans le journal
dpo-field-time = Date
dpo-field-event = Événement
dpo-field-actor = Auteur
dpo-field-subject = Personne concernée (enfant)
dpo-field-service = Service
dpo-field-grant = Autorisation
dpo-field-basis = Base légale
dpo-field-data = Catégories de données
dpo-field-action = Action demandée
dpo-field-grant-actions = Actions autorisées
dpo-field-record = Document
dpo-field-validity = Validité
dpo-field-purpose-digest = Empreinte de la finalité
dpo-field-withdrawal = Retrait du consentement
dpo-field-reasons = Règles appliquées
dpo-field-service-id = Identifiant du service
dpo-field-purposes = Finalités
dpo-field-persons = Personnes concernées
dpo-field-retention = Durée de conservation
dpo-field-grants = Autorisations
dpo-validity = du { $from } au { $until }
dpo-persons = moins de { $age } ans : { $under } · { $age } ans et plus : { $over } · majeurs : { $adults }
dpo-retention-range = de { $min } à { $max } jours
dpo-grants-count = actives : { $active } · retirées : { $revoked } · expirées : { $expired } · en attente ou refusées : { $other }

# Droit d'accès (RGPD, article 15)
home-report = Ce que les services savent et ont fait (droit d'accès)
report-title = Droit d'accès : { $child }
report-intro = Toutes les autorisations qui concernent ces données et tout ce qui a été inscrit à leur sujet dans le registre de la famille, avec, dans le fichier à télécharger, la preuve de chaque inscription.
report-download = Télécharger le fichier (reçus et preuves)
report-grants = Autorisations
report-no-grants = Aucune autorisation ne concerne ces données.
report-entries = Demandes, décisions et accès

# Les données d'un enfant (sa page, une page par collection, le carnet de suivi, les fichiers)
home-child-page = Voir ses données
child-intro = Ce que l'établissement et la famille ont déposé pour cet enfant. Chaque consultation est inscrite dans l'historique de la famille.
child-title-edu-grades = Notes
child-title-edu-attendance = Absences et retards
child-title-edu-homework = Devoirs
child-title-edu-timetable = Emploi du temps
child-title-edu-report-cards = Bulletins
child-title-edu-certificates = Attestations et certificats
child-title-edu-activity = Activités
child-title-edu-enrollments = Inscriptions
child-title-edu-competencies = Compétences
child-title-edu-documents = Documents
child-title-edu-followup = Carnet de suivi
child-title-health-pai = Projet d'accueil individualisé (santé)
child-heading-edu-grades = Les notes { $child_de }
child-heading-edu-attendance = Les absences et retards { $child_de }
child-heading-edu-homework = Les devoirs { $child_de }
child-heading-edu-timetable = L'emploi du temps { $child_de }
child-heading-edu-report-cards = Les bulletins { $child_de }
child-heading-edu-certificates = Les attestations et certificats { $child_de }
child-heading-edu-activity = Les activités { $child_de }
child-heading-edu-enrollments = Les inscriptions { $child_de }
child-heading-edu-competencies = Les compétences { $child_de }
child-heading-edu-documents = Les documents { $child_de }
child-heading-edu-followup = Le carnet de suivi { $child_de }
child-heading-health-pai = Le projet d'accueil individualisé { $child_de }
child-pages = Pages
child-first-page = Première page
child-next-page = Page suivante
child-capped = Ce résumé porte sur les 2 000 premiers éléments seulement.
child-no-records = Rien pour l'instant.
child-yes = oui
child-no = non
child-size-bytes = { $size } octets
child-size-kb = { $size } Ko
child-size-mb = { $size } Mo
child-author-school = l'établissement
child-author-via = { $author } (par { $service })
child-no-subject = Sans matière
child-no-grades = Aucune note pour l'instant.
child-overall = Moyenne générale :
child-average = Moyenne :
child-marks-count = { $count ->
    [one] 1 note
   *[other] { $count } notes
}
child-chart-title = { $subject } : les notes dans le temps
child-chart-desc = { $count ->
    [one] 1 note sur 20 :
   *[other] { $count } notes sur 20, de la plus ancienne à la plus récente :
} { $values }
child-coefficient = coef. { $coefficient }
child-col-date = Date
child-col-subject = Matière
child-col-test = Évaluation
child-col-grade = Note
child-all-marks = Toutes les notes, dans l'ordre où elles ont été saisies
child-month = { $month } { $year }
child-months = Mois
child-previous-month = Mois précédent
child-next-month = Mois suivant
child-weekday-short-1 = lun.
child-weekday-short-2 = mar.
child-weekday-short-3 = mer.
child-weekday-short-4 = jeu.
child-weekday-short-5 = ven.
child-weekday-short-6 = sam.
child-weekday-short-7 = dim.
child-absence-short = Abs.
child-absence-word = Absence
child-late-short = Ret.
child-late-word = Retard
child-absence = { $half_days ->
    [one] Absence d'une demi-journée
   *[other] Absence de { $half_days } demi-journées
}
child-late = Retard de { $minutes } min
child-justified = justifié
child-not-justified = non justifié
child-attendance-totals = Depuis le début : { $half_days ->
    [one] 1 demi-journée d'absence
   *[other] { $half_days } demi-journées d'absence
} et { $lates ->
    [0] aucun retard
    [one] 1 retard
   *[other] { $lates } retards
}.
child-calendar-legend = Dans le calendrier : « Abs. » pour une absence, « Ret. » pour un retard.
child-month-events = Ce mois-ci
child-no-events = Ni absence ni retard ce mois-ci.
child-upcoming = À faire
child-no-upcoming = Rien à faire pour les jours qui viennent.
child-past = Déjà passés
child-no-past = Aucun devoir passé.
child-due = Pour le
child-done = fait
child-not-done = pas marqué comme fait
child-no-lessons = Pas de cours.
child-room = salle
child-followup-intro = Les échanges entre la famille et l'établissement, du plus ancien au plus récent.
child-no-notes = Le carnet est vide.
child-followup-write = Écrire dans le carnet
child-followup-submit = Ajouter au carnet
child-followup-added = Votre message est ajouté au carnet.
child-grade-added = La note est ajoutée.
child-homework-added = Le devoir est ajouté.
child-attendance-added = C'est noté dans le calendrier.
child-grade-add = Ajouter une note
child-grade-submit = Ajouter la note
child-homework-add = Ajouter un devoir
child-homework-submit = Ajouter le devoir
child-attendance-add = Noter une absence ou un retard
child-attendance-submit = Noter
child-entry-subject = Matière
child-entry-grade = Note
child-entry-grade-help = Par exemple 15,5
child-entry-out-of = Sur (le barème)
child-entry-coefficient = Coefficient
child-entry-date = Date
child-entry-due = Pour le
child-entry-homework = Ce qu'il faut faire
child-entry-kind = Absence ou retard
child-entry-justified = Justifié
child-entry-subject-invalid = Indiquez la matière ({ $limit } caractères au plus).
child-entry-grade-invalid = La note doit être un nombre positif ou nul, par exemple 15,5.
child-entry-scale-invalid = Le barème doit être un nombre plus grand que 0 (20 le plus souvent), 1000 au plus.
child-entry-above-scale = La note { $grade } dépasse le barème : elle est sur { $out_of }.
child-entry-coefficient-invalid = Le coefficient doit être un nombre plus grand que 0, 100 au plus.
child-entry-date-invalid = La date n'est pas une date valide : choisissez-la dans le calendrier (jour, mois, année).
child-entry-text-invalid = Le texte est vide ou trop long ({ $limit } caractères au plus).
child-entry-kind-invalid = Choisissez « Absence » ou « Retard ».
child-no-files = Aucun fichier pour l'instant.
child-download = Télécharger
child-view = Voir
child-cert-issuer = Délivré par
child-cert-level = Niveau
child-cert-date = Date
child-cert-signature = Signature
child-cert-verified = vérifiée
child-cert-not-verified = non vérifiée
child-cert-failed = invalide : ce certificat a été modifié ou n'est pas de son émetteur
child-upload-label = Ajouter un fichier
child-upload-limit = Un fichier de { $size } au plus.
child-upload-submit = Envoyer le fichier
child-file-uploaded = Le fichier est enregistré.
child-upload-invalid = Le fichier n'a pas pu être lu : choisissez-en un et recommencez.
child-upload-too-large = Ce fichier est trop gros.

# Réglages de la famille, mots de passe, séance d'un adolescent, filtres et preuves de l'historique
nav-settings = Réglages
home-own-data = Mes données
invitation-intro-child = Vos parents vous invitent à avoir votre propre accès à Cartable : vous verrez vos données et vous donnerez votre accord aux demandes qui vous concernent. Choisissez votre identifiant et votre mot de passe.
invitation-intro-guardian-sign-in = Votre famille a été transférée sur ce serveur Cartable avec toutes ses données et son historique. Choisissez votre identifiant et votre mot de passe pour la retrouver.
settings-title = Réglages de la famille
settings-members = Membres de la famille
settings-signs-in = Se connecte à Cartable
settings-no-sign-in = Pas d'accès à Cartable
settings-too-young = Pas d'accès avant 15 ans : ses parents décident pour lui ou elle
settings-invite-child = Inviter à se connecter
settings-invite-child-help = Dès 15 ans, un enfant peut avoir son propre accès : il voit ses données et donne son accord aux demandes qui le concernent, en plus du vôtre.
settings-invite-guardian = Inviter un autre parent
settings-invitations = Invitations en attente
settings-invited-by = envoyée par
settings-invitation-guardian = Un autre parent
settings-invitation-child = Accès { $name_de }
settings-link-guardian = Lien d'invitation pour l'autre parent
settings-link-child = Lien d'invitation pour { $name }
settings-family-name = Famille : { $name }
settings-link-once = Transmettez ce lien à la personne invitée, par un moyen sûr. Il ne sert qu'une fois, pendant 7 jours, et ne sera plus affiché.
settings-child-too-young = Un enfant ne peut avoir son propre accès qu'à partir de 15 ans.
settings-child-password = Choisir un nouveau mot de passe
settings-child-password-button = Enregistrer le mot de passe
settings-child-password-set = Le nouveau mot de passe est enregistré. Les séances ouvertes avec l'ancien sont fermées.
settings-account = Mon compte
settings-prohibitions = Ne jamais partager
settings-prohibitions-intro = Une interdiction l'emporte sur toutes les autorisations : aucun service ne reçoit ces données de vos enfants mineurs, même avec votre accord.
settings-prohibitions-own = Vos interdictions l'emportent sur toutes les autorisations : aucun service ne reçoit ces données.
settings-prohibitions-readonly = Ce que vos parents ont interdit de partager, quelles que soient les autorisations.
settings-never-shared = jamais partagé
settings-forbid = Ne jamais partager
settings-lift = Lever l'interdiction
settings-forbidden = L'interdiction est en place. Elle est inscrite dans le registre.
settings-lifted = L'interdiction est levée. C'est inscrit dans le registre.
settings-delete = Supprimer la famille
settings-delete-warning = Attention : tout est effacé, définitivement. Les données des enfants, les documents, les autorisations et les comptes de tous les membres disparaissent, et personne ne pourra les récupérer. Seul le registre garde la trace de l'effacement, sans aucune donnée personnelle.
settings-delete-type = Pour confirmer, tapez le nom de la famille : { $name }
settings-delete-button = Supprimer définitivement la famille
settings-archive = Toutes nos données
settings-archive-intro = Téléchargez en une archive tout ce que vous pouvez voir ici : les données des enfants, leurs fichiers, les autorisations et l'historique des accès, avec de quoi vérifier qu'il n'a pas été modifié. Elle s'ouvre sans connexion (index.html) ; si vous gérez les données de tous les enfants, elle peut aussi être importée sur un autre serveur Cartable.
settings-archive-passphrase = Phrase secrète (facultative)
settings-archive-passphrase-help = Au moins 8 caractères. Avec une phrase secrète, l'archive est chiffrée (age) : gardez-la, elle ne peut pas être retrouvée.
settings-archive-button = Télécharger nos données
settings-archive-short = La phrase secrète doit compter au moins 8 caractères.
settings-delete-mismatch = Le nom tapé n'est pas celui de la famille : rien n'a été supprimé.
settings-erased = La famille a été supprimée. Toutes les séances sont fermées.
password-title = Changer mon mot de passe
password-intro = Après le changement, vous restez connecté ici ; partout ailleurs, il faudra se reconnecter.
password-current = Mot de passe actuel
password-new = Nouveau mot de passe
password-button = Changer le mot de passe
password-wrong-current = Le mot de passe actuel n'est pas le bon : rien n'a changé.
password-changed = Votre mot de passe est changé. Vos autres séances sont fermées.
history-filters = Filtrer l'historique
history-filter-child = Enfant
history-filter-any-child = Tous les enfants
history-filter-service = Service
history-filter-any-service = Tous les services
history-filter-event = Événement
history-filter-any-event = Tous les événements
history-filter-from = Du
history-filter-to = Au
history-filter-apply = Filtrer
history-filter-clear = Tout afficher
history-none-filtered = Rien ne correspond à ces filtres.
history-event-request = Demandes
history-event-approve = Accords
history-event-confirm = Confirmations
history-event-deny = Refus
history-event-revoke = Retraits
history-event-expire = Expirations
history-event-policy_change = Changements de règles
history-event-access_allowed = Consultations
history-event-access_denied = Accès refusés
history-event-export = Exports
history-event-record_write = Documents modifiés
history-event-records_import = Imports de données
history-event-sealed_membership = Livraison scellée
history-receipt-link = Reçu et preuve
history-verification = Intégrité du registre
history-verification-intro = Le registre est une chaîne signée : on peut vérifier que rien n'y a été effacé ni modifié.
history-verify = Vérifier le registre maintenant
history-verified = Le registre est intact : ses { $count } inscriptions ont été vérifiées une à une.
history-verify-failed = La vérification a échoué : le registre a été altéré. L'exploitant et le délégué à la protection des données sont prévenus par le journal du serveur.
history-checkpoint-show = Voir le point de contrôle signé
receipt-title = Reçu d'une inscription
receipt-back = Retour à l'historique
receipt-index = Position dans le registre
receipt-id = Reçu
receipt-grant = Autorisation
receipt-reasons = Règles appliquées
receipt-proof-title = Preuve d'inclusion
receipt-proof-intro = Ce fichier prouve que ce reçu est dans le registre signé de la famille ; on peut le vérifier sans Cartable, avec la clé publique du registre.
receipt-proof-download = Télécharger la preuve
receipt-proof-show = Voir la preuve
receipt-canonical-show = Voir le reçu tel qu'il est signé

# Accès par autorisation
grant-no-access = Aucun accès récent sous cette autorisation.
grant-accesses = { $count ->
    [one] 1 accès récent (voir)
   *[other] { $count } accès récents (voir les derniers)
}

# Recherche
search-title = Recherche
search-label = Rechercher dans les données de la famille
search-button = Rechercher
search-placeholder = Mot, matière…
search-help = Des mots, "une expression", -mot pour l'exclure, pré* pour le début d'un mot.
search-period = Période
search-from = Du
search-to = Au
search-explain-title = Comment chercher
search-explain-words = les éléments qui contiennent tous ces mots
search-explain-phrase = cette expression exacte, entre guillemets
search-explain-exclude = sans ce mot (un tiret devant)
search-explain-prefix = les mots qui commencent par « math » (au moins deux lettres avant l'astérisque)
search-explain-accents = Les accents et les majuscules ne comptent pas : « eleve » trouve « élève ». Vous ne trouvez que ce que les règles de votre famille vous laissent voir.
search-total = { $count ->
    [0] Aucun résultat
    [one] 1 résultat
   *[other] { $count } résultats
}
search-none = Aucun résultat. Essayez d'autres mots, une autre période, ou retirez un filtre.
search-unreadable = { $count ->
    [one] 1 fichier n'a pas pu être lu : la recherche ne le trouve que par son nom.
   *[other] { $count } fichiers n'ont pas pu être lus : la recherche ne les trouve que par leur nom.
}
search-narrow = Affiner la recherche
search-by-child = Par enfant
search-by-doctype = Par type de données
search-any-child = Tous les enfants
search-any-doctype = Tous les types
search-results = Résultats
search-pages = Pages des résultats
search-previous = Page précédente
search-next = Page suivante
search-position = Page { $page } sur { $pages }
search-error-empty = Écrivez ce que vous cherchez.
search-error-too-long = La recherche est trop longue : raccourcissez-la.
search-error-too-many-words = La recherche a trop de mots (32 au plus).
search-error-unclosed-quote = Un guillemet n'est pas fermé : ajoutez celui qui termine l'expression, ou retirez-le.
search-error-short-prefix = Mettez au moins deux lettres avant l'astérisque (*).
search-error-only-exclusions = La recherche ne fait qu'exclure des mots : dites aussi ce que vous cherchez.
search-error-query = Cette recherche n'est pas valable : vérifiez les guillemets, les tirets et les astérisques.
search-error-refused = Cette recherche ne peut pas être faite : elle ne contient que des mots trop courants (le, de, et…). Ajoutez un mot qui dit ce que vous cherchez.
search-error-date = Une date de la période n'est pas valable : écrivez-la jour, mois et année.
search-error-period = Le début de la période est après sa fin.

# The import page (a family brought here from its archive)
import-title = Transférer une famille sur ce serveur
import-intro = Choisissez l'archive de votre famille (le fichier « .zip » exporté par votre ancien serveur Cartable). Tout est vérifié avant que quoi que ce soit ne soit écrit : les empreintes de chaque fichier, l'historique signé, les autorisations. Rien n'est écrit si l'archive est refusée.
import-file = L'archive de la famille
import-passphrase = Phrase de passe (si l'archive est chiffrée)
import-passphrase-help = Laissez vide si l'archive n'a pas été exportée avec une phrase de passe.
import-button = Transférer la famille
import-invalid = Ce lien de transfert n'est pas valable : il a peut-être déjà servi ou expiré. Demandez-en un autre à l'administrateur du serveur.
import-no-file = Choisissez le fichier de l'archive.
import-refused = L'archive a été refusée et rien n'a été écrit. La raison, telle que la vérification l'a donnée :
import-too-large = Cette archive est plus grande que ce que ce serveur accepte.
import-done-title = Votre famille est transférée
import-done-summary = { $records } enregistrements, { $files } fichiers et { $entries } entrées d'historique ont été transférés, avec les autorisations et les interdictions.
import-done-sign-in = Les identifiants et mots de passe ne voyagent jamais dans une archive : chaque responsable choisit les siens avec son lien, valable 7 jours. Gardez ces liens pour vous.
import-done-link = choisir mon identifiant et mon mot de passe

# Import of a learning platform's export (xAPI) on the activities page
import-xapi-title = Import d'activités
import-xapi-label = Importer l'export d'une plateforme (xAPI)
import-xapi-help = Un fichier JSON de déclarations xAPI. Tout est vérifié avant d'enregistrer : si une déclaration est refusée, rien n'est importé, sauf si vous cochez la case ci-dessous. Envoyer deux fois le même fichier n'ajoute rien.
import-xapi-partial = Garder les déclarations valables même si d'autres sont refusées
import-xapi-submit = Importer
import-xapi-done = { $imported ->
    [0] Rien de nouveau
    [one] Une donnée importée
   *[other] { $imported } données importées
}, { $duplicates } déjà là, { $rejected } { $rejected ->
    [one] déclaration refusée
   *[other] déclarations refusées
}.
import-xapi-refused = { $rejected ->
    [one] Une déclaration est refusée
   *[other] { $rejected } déclarations sont refusées
} : rien n'a été importé. Corrigez le fichier, ou cochez « Garder les déclarations valables ».
import-xapi-problems = Déclarations refusées
import-xapi-line = Ligne { $line }
import-more = … et { $count } de plus.
import-xapi-back = Revenir aux activités
import-xapi-invalid = Ce fichier n'est pas un export xAPI lisible : rien n'a été importé.
import-file-too-large = Ce fichier est trop gros pour être importé ici (32 Mio au plus).

# Import of an Open Badge on the certificates page
import-badge-title = Import d'un badge
import-badge-label = Importer un badge ou une attestation numérique (Open Badges)
import-badge-help = Un badge Open Badges 2.0 ou 3.0, ou un relevé CLR : fichier JSON, jeton JWT, ou image PNG ou SVG « cuite ». Sa signature est vérifiée quand c'est possible sans réseau, et le résultat est affiché avec lui.
import-badge-partial = Garder les badges valables d'un relevé même si d'autres sont refusés
import-badge-submit = Importer le badge
import-badge-done = { $imported ->
    [0] Rien de nouveau
    [one] Un badge importé
   *[other] { $imported } badges importés
}, { $duplicates } déjà là, { $rejected } { $rejected ->
    [one] refusé
   *[other] refusés
}.
import-badge-refused = { $rejected ->
    [one] Un badge est refusé
   *[other] { $rejected } badges sont refusés
} : rien n'a été importé.
import-badge-problems = Badges refusés
import-badge-line = Badge { $line }
import-badge-back = Revenir aux attestations
import-badge-invalid = Ce fichier n'est pas un badge Open Badges lisible : rien n'a été importé.

## Sign-in through an identity provider
nav-notifications = Notifications
sign-in-password-off = La connexion par mot de passe est désactivée pour ce compte : connectez-vous avec votre fournisseur d'identité.
oidc-sign-in-title = Avec votre compte scolaire
oidc-sign-in-help = Si vous avez lié votre compte Cartable à l'un de ces comptes, vous pouvez vous connecter avec lui.
oidc-sign-in-with = Se connecter avec { $name }
oidc-refused-title = Connexion refusée
oidc-back-to-sign-in = Revenir à la page de connexion
oidc-unknown-provider = Ce fournisseur d'identité n'est pas configuré sur ce serveur.
oidc-unreachable = Le fournisseur d'identité ne répond pas pour le moment. Réessayez plus tard, ou connectez-vous avec votre mot de passe.
oidc-code-refused = Le fournisseur d'identité a refusé cette réponse (elle a déjà servi, a expiré, ou n'était pas pour cette connexion). Recommencez la connexion.
oidc-token-refused = La réponse du fournisseur d'identité n'a pas pu être vérifiée. Personne n'a été connecté.
oidc-token-expired = La réponse du fournisseur d'identité était déjà périmée. Recommencez la connexion ; si cela se répète, l'horloge du fournisseur est peut-être déréglée.
oidc-wrong-nonce = La réponse du fournisseur d'identité ne correspond pas à cette connexion. Personne n'a été connecté.
oidc-bad-state = Cette connexion n'est pas (ou plus) en cours dans ce navigateur : elle a déjà servi, a expiré, ou a été commencée ailleurs. Recommencez depuis la page de connexion.
oidc-provider-said-no = La connexion a été annulée ou refusée chez le fournisseur d'identité.
oidc-link-denied = Ce compte ne peut plus lier d'identité.
oidc-identity-taken = Cette identité est déjà liée à un autre compte Cartable.
oidc-unknown-identity = Cette identité n'est liée à aucun compte Cartable. Aucun compte n'a été créé. Connectez-vous avec votre mot de passe ou votre lien d'invitation, puis liez cette identité depuis « Mon compte ».
oidc-linked-title = Identité liée
oidc-linked = Votre compte est lié à ce fournisseur d'identité : vous pourrez vous connecter avec lui.
oidc-signed-in-title = Connexion réussie
oidc-signed-in = Vous êtes connecté. La page suivante s'ouvre…
oidc-to-provider-title = Vers votre fournisseur d'identité
oidc-to-provider = Votre fournisseur d'identité va vous demander de vous connecter, puis vous ramènera ici.
oidc-continue = Continuer
oidc-too-many = Trop de connexions ont été commencées depuis cette adresse. Réessayez dans quelques minutes, ou connectez-vous avec votre mot de passe.

## Notifications
notification-request = { $service } demande l'accès à des données de votre famille : votre décision est attendue.
notification-first-use = { $service } a utilisé pour la première fois l'accès que votre famille lui a accordé.
notification-expiring = L'accès accordé à { $service } prend fin dans moins d'une semaine.
notification-ended = L'accès accordé à { $service } a pris fin.
notifications-title = Notifications
notifications-choose = Choisir ce que je reçois par e-mail
notifications-none = Aucune notification pour le moment.
notifications-new = Nouveau
email-subject-request = Cartable : une demande attend votre décision
email-subject-first_use = Cartable : un accès a servi pour la première fois
email-subject-expiring = Cartable : un accès prend bientôt fin
email-subject-ended = Cartable : un accès a pris fin
email-open = Pour voir et décider : { $link }
email-footer = Vous recevez ce message parce que vous l'avez choisi dans Cartable. Pour changer ce que vous recevez : { $link }

## A member's account
settings-my-account = Mes notifications et ma connexion
settings-password-sign-in = Connexion par mot de passe
settings-password-sign-in-on = activée
settings-password-sign-in-off = désactivée
settings-password-sign-in-turn-off = Désactiver la connexion par mot de passe
settings-password-sign-in-turn-on = Réactiver la connexion par mot de passe
settings-password-sign-in-changed = La connexion par mot de passe a été modifiée.
account-title = Mon compte
account-notifications-title = Notifications par e-mail
account-notifications-intro = Vos notifications s'affichent toujours dans Cartable. Choisissez celles que vous recevez aussi par e-mail ; un e-mail ne contient jamais les données de vos enfants.
account-email-off = Ce serveur n'envoie pas d'e-mails pour le moment : vos notifications restent dans Cartable.
account-email = Adresse e-mail
account-email-help = Laissez vide pour ne recevoir aucun e-mail.
account-kinds = Recevoir par e-mail
account-kind-request = une demande attend ma décision
account-kind-first_use = un accès sert pour la première fois
account-kind-expiring = un accès prend bientôt fin
account-kind-ended = un accès a pris fin
account-language = Langue des e-mails
account-save = Enregistrer
account-saved = Vos choix sont enregistrés.
account-bad-email = Cette adresse e-mail n'est pas valable : rien n'a été changé.
account-identities-title = Fournisseurs d'identité
account-identities-intro = Liez votre compte à votre compte scolaire pour vous connecter avec lui. Cartable ne garde qu'une empreinte de votre identifiant.
account-identity-linked = Lié depuis le { $name }.
account-link = Lier mon compte à { $name }
account-unlink = Délier
account-unlinked = Ce fournisseur d'identité n'est plus lié à votre compte.
account-password-sign-in = Connexion par mot de passe
account-password-sign-in-on = Vous pouvez aussi vous connecter avec votre mot de passe.
account-password-sign-in-off = La connexion par mot de passe est désactivée : vous vous connectez avec votre fournisseur d'identité.
account-password-turn-off = Désactiver la connexion par mot de passe
account-password-turn-on = Réactiver la connexion par mot de passe
account-password-sign-in-changed = La connexion par mot de passe a été modifiée.
account-password-needs-provider = La connexion par mot de passe ne peut être désactivée qu'après avoir lié un fournisseur d'identité.

//! What the renewal and dunning mails say, in French and English: the notice before an
//! automatic renewal, the manual-renewal reminders, a failed renewal charge, the renewal
//! itself, suspension, the last warning, deletion for non-payment, the last week of a
//! terminated service, and a card about to expire.

use super::order_mail::Parts;
use guichet_domain::Language;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum LifecycleMail {
    /// E−30: the service renews automatically on E for `amount`, charged to `method`
    /// (`None`: no valid payment method on file).
    RenewalNotice {
        name: String,
        expires_on: String,
        charge_on: String,
        amount: String,
        method: Option<String>,
        link: String,
    },
    /// Manual renewal: renew before E or the service is suspended.
    RenewalReminder {
        name: String,
        expires_on: String,
        link: String,
    },
    /// The renewal charge failed; the next try and the suspension date.
    RenewalFailed {
        name: String,
        reason: String,
        suspension_on: String,
        link: String,
    },
    /// Paid: the new expiration date (`reactivated` when it was suspended).
    Renewed {
        name: String,
        expires_on: String,
        reactivated: bool,
        link: String,
    },
    /// E came unpaid: suspended; `order` pays it; deleted on `deletion_on`.
    Suspended {
        name: String,
        order: String,
        deletion_on: String,
        link: String,
    },
    /// E+5: deleted in two days unless paid.
    LastWarning {
        name: String,
        order: String,
        deletion_on: String,
        link: String,
    },
    /// E+7 unpaid: deleted.
    DeletedUnpaid { name: String },
    /// A terminated service ends in a week.
    TerminationReminder {
        name: String,
        ends_on: String,
        link: String,
    },
    /// A card used for renewals expires before the next charge.
    CardExpiring {
        card: String,
        last_day: String,
        link: String,
    },
}

impl LifecycleMail {
    pub fn name(&self) -> &'static str {
        match self {
            LifecycleMail::RenewalNotice { .. } => "renewal_notice",
            LifecycleMail::RenewalReminder { .. } => "renewal_reminder",
            LifecycleMail::RenewalFailed { .. } => "renewal_failed",
            LifecycleMail::Renewed { .. } => "service_renewed",
            LifecycleMail::Suspended { .. } => "service_suspended",
            LifecycleMail::LastWarning { .. } => "service_last_warning",
            LifecycleMail::DeletedUnpaid { .. } => "service_deleted_unpaid",
            LifecycleMail::TerminationReminder { .. } => "service_termination_reminder",
            LifecycleMail::CardExpiring { .. } => "card_expiring",
        }
    }

    pub(super) fn parts(&self, lang: Language) -> Parts {
        let fr = lang == Language::Fr;
        let t = |f: String, e: String| if fr { f } else { e };
        let manage = |link: &String| {
            Some((
                t("Gérer mon service".into(), "Manage my service".into()),
                link.clone(),
            ))
        };
        let pay = |link: &String| {
            Some((
                t("Payer le renouvellement".into(), "Pay the renewal".into()),
                link.clone(),
            ))
        };
        match self {
            LifecycleMail::RenewalNotice {
                name,
                expires_on,
                charge_on,
                amount,
                method,
                link,
            } => (
                t(
                    format!("Renouvellement de {name} le {expires_on}"),
                    format!("{name} renews on {expires_on}"),
                ),
                vec![match method {
                    Some(m) => t(
                        format!(
                            "Votre service {name} expire le {expires_on}. Il sera renouvelé \
                             automatiquement : {amount} seront prélevés le {charge_on} sur {m}."
                        ),
                        format!(
                            "Your service {name} expires on {expires_on}. It renews \
                             automatically: {amount} will be charged on {charge_on} to {m}."
                        ),
                    ),
                    None => t(
                        format!(
                            "Votre service {name} expire le {expires_on} et doit être renouvelé \
                             automatiquement le {charge_on} ({amount}), mais aucun moyen de \
                             paiement valide n'est enregistré : ajoutez-en un pour éviter la \
                             suspension du service."
                        ),
                        format!(
                            "Your service {name} expires on {expires_on} and renews \
                             automatically on {charge_on} ({amount}), but no valid payment \
                             method is registered: add one to avoid the service's suspension."
                        ),
                    ),
                }],
                manage(link),
                vec![],
            ),
            LifecycleMail::RenewalReminder {
                name,
                expires_on,
                link,
            } => (
                t(
                    format!("Pensez à renouveler {name} avant le {expires_on}"),
                    format!("Renew {name} before {expires_on}"),
                ),
                vec![t(
                    format!(
                        "Votre service {name} expire le {expires_on} et son renouvellement est \
                         manuel. Renouvelez-le avant cette date pour éviter sa suspension ; \
                         la nouvelle période s'ajoute à la date d'expiration actuelle."
                    ),
                    format!(
                        "Your service {name} expires on {expires_on} and renews manually. \
                         Renew it before that date to avoid its suspension; the new period is \
                         added to the current expiration date."
                    ),
                )],
                Some((
                    t("Renouveler mon service".into(), "Renew my service".into()),
                    link.clone(),
                )),
                vec![],
            ),
            LifecycleMail::RenewalFailed {
                name,
                reason,
                suspension_on,
                link,
            } => (
                t(
                    format!("Échec du renouvellement de {name}"),
                    format!("Renewal of {name} failed"),
                ),
                vec![t(
                    format!(
                        "Le paiement du renouvellement de votre service {name} n'a pas abouti \
                         ({reason}). Nous réessaierons d'ici là, mais sans paiement le service \
                         sera suspendu le {suspension_on}. Vous pouvez payer dès maintenant, \
                         ou enregistrer un autre moyen de paiement."
                    ),
                    format!(
                        "The renewal payment of your service {name} did not go through \
                         ({reason}). We will try again, but without a payment the service will \
                         be suspended on {suspension_on}. You can pay now, or register another \
                         payment method."
                    ),
                )],
                pay(link),
                vec![],
            ),
            LifecycleMail::Renewed {
                name,
                expires_on,
                reactivated,
                link,
            } => (
                t(
                    format!("{name} est renouvelé"),
                    format!("{name} is renewed"),
                ),
                vec![if *reactivated {
                    t(
                        format!(
                            "Merci : votre paiement est reçu et votre service {name} est \
                             réactivé. Il expire désormais le {expires_on}."
                        ),
                        format!(
                            "Thank you: your payment is received and your service {name} is \
                             active again. It now expires on {expires_on}."
                        ),
                    )
                } else {
                    t(
                        format!(
                            "Votre service {name} est renouvelé ; il expire désormais le \
                             {expires_on}. La facture est disponible dans votre espace client."
                        ),
                        format!(
                            "Your service {name} is renewed; it now expires on {expires_on}. \
                             The invoice is in your customer space."
                        ),
                    )
                }],
                manage(link),
                vec![],
            ),
            LifecycleMail::Suspended {
                name,
                order,
                deletion_on,
                link,
            } => (
                t(
                    format!("{name} est suspendu"),
                    format!("{name} is suspended"),
                ),
                vec![t(
                    format!(
                        "Votre service {name} n'a pas été renouvelé à temps : il est suspendu. \
                         Vos données sont conservées. Payez la commande {order} avant le \
                         {deletion_on} pour le réactiver ; passé cette date il sera supprimé \
                         avec ses données."
                    ),
                    format!(
                        "Your service {name} was not renewed in time: it is suspended. Your \
                         data is kept. Pay order {order} before {deletion_on} to reactivate it; \
                         after that date it will be deleted with its data."
                    ),
                )],
                pay(link),
                vec![],
            ),
            LifecycleMail::LastWarning {
                name,
                order,
                deletion_on,
                link,
            } => (
                t(
                    format!("Dernier avis : {name} sera supprimé le {deletion_on}"),
                    format!("Last notice: {name} will be deleted on {deletion_on}"),
                ),
                vec![t(
                    format!(
                        "Votre service {name} est suspendu depuis son expiration. Sans \
                         paiement de la commande {order}, il sera supprimé définitivement, \
                         avec ses données, le {deletion_on}."
                    ),
                    format!(
                        "Your service {name} has been suspended since it expired. Unless order \
                         {order} is paid, it will be deleted for good, with its data, on \
                         {deletion_on}."
                    ),
                )],
                pay(link),
                vec![],
            ),
            LifecycleMail::DeletedUnpaid { name } => (
                t(
                    format!("{name} a été supprimé"),
                    format!("{name} was deleted"),
                ),
                vec![t(
                    format!(
                        "Faute de renouvellement, votre service {name} a été supprimé avec ses \
                         données. Vous pouvez commander un nouveau service à tout moment."
                    ),
                    format!(
                        "As it was not renewed, your service {name} was deleted with its data. \
                         You can order a new service at any time."
                    ),
                )],
                None,
                vec![],
            ),
            LifecycleMail::TerminationReminder {
                name,
                ends_on,
                link,
            } => (
                t(
                    format!("{name} sera supprimé le {ends_on}"),
                    format!("{name} will be deleted on {ends_on}"),
                ),
                vec![t(
                    format!(
                        "Comme demandé, votre service {name} sera supprimé avec ses données le \
                         {ends_on}. Pensez à récupérer vos données d'ici là. Vous pouvez encore \
                         annuler la résiliation jusqu'à 24 heures avant cette date."
                    ),
                    format!(
                        "As asked, your service {name} will be deleted with its data on \
                         {ends_on}. Remember to retrieve your data before then. You can still \
                         cancel the termination until 24 hours before that date."
                    ),
                )],
                manage(link),
                vec![],
            ),
            LifecycleMail::CardExpiring {
                card,
                last_day,
                link,
            } => (
                t(
                    format!("Votre carte {card} expire bientôt"),
                    format!("Your card {card} expires soon"),
                ),
                vec![t(
                    format!(
                        "Votre carte {card} n'est valable que jusqu'au {last_day}, avant le \
                         prochain renouvellement de vos services. Enregistrez un nouveau moyen \
                         de paiement pour que vos services ne soient pas suspendus."
                    ),
                    format!(
                        "Your card {card} is valid only until {last_day}, before your \
                         services' next renewal. Register a new payment method so that your \
                         services are not suspended."
                    ),
                )],
                Some((
                    t("Mes moyens de paiement".into(), "My payment methods".into()),
                    link.clone(),
                )),
                vec![],
            ),
        }
    }
}

//! What the support and account-closure mails say, in French and English: an operator's reply
//! to a ticket, a ticket closed for lack of answer, the closure confirmation token, and the
//! last mail an account receives once its personal data are erased.

use super::order_mail::Parts;
use guichet_domain::Language;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum SupportMail {
    /// An operator answered a ticket.
    TicketReply {
        subject: String,
        message: String,
        link: String,
    },
    /// A ticket waited for the customer `days` days and was closed.
    TicketAutoClosed {
        subject: String,
        days: i64,
        link: String,
    },
    /// Confirm the closure of the account (and the erasure of its personal data).
    ClosureToken {
        link: String,
        token: String,
        hours: i64,
    },
    /// The account is closed and its personal data erased.
    AccountClosed,
}

impl SupportMail {
    pub fn name(&self) -> &'static str {
        match self {
            SupportMail::TicketReply { .. } => "ticket_reply",
            SupportMail::TicketAutoClosed { .. } => "ticket_auto_closed",
            SupportMail::ClosureToken { .. } => "account_closure_confirm",
            SupportMail::AccountClosed => "account_closed",
        }
    }

    pub(super) fn parts(&self, lang: Language) -> Parts {
        let fr = lang == Language::Fr;
        let t = |f: String, e: String| if fr { f } else { e };
        match self {
            SupportMail::TicketReply {
                subject,
                message,
                link,
            } => (
                t(
                    format!("Réponse à votre demande : {subject}"),
                    format!("Reply to your request: {subject}"),
                ),
                vec![
                    t(
                        "Notre équipe a répondu à votre demande d'assistance :".into(),
                        "Our team answered your support request:".into(),
                    ),
                    message.clone(),
                ],
                Some((
                    t("Lire et répondre".into(), "Read and reply".into()),
                    link.clone(),
                )),
                vec![],
            ),
            SupportMail::TicketAutoClosed {
                subject,
                days,
                link,
            } => (
                t(
                    format!("Demande fermée : {subject}"),
                    format!("Request closed: {subject}"),
                ),
                vec![t(
                    format!(
                        "Sans réponse de votre part depuis {days} jours, votre demande \
                         d'assistance a été fermée. Vous pouvez la rouvrir depuis votre espace \
                         client si le problème persiste."
                    ),
                    format!(
                        "With no answer from you for {days} days, your support request was \
                         closed. You can reopen it from your customer space if the problem \
                         remains."
                    ),
                )],
                Some((t("Voir la demande".into(), "See the request".into()), link.clone())),
                vec![],
            ),
            SupportMail::ClosureToken { link, token, hours } => (
                t(
                    "Confirmez la fermeture de votre compte".into(),
                    "Confirm the closure of your account".into(),
                ),
                vec![
                    t(
                        format!(
                            "Vous avez demandé la fermeture définitive de votre compte et \
                             l'effacement de vos données personnelles (droit d'effacement). Vos \
                             factures et avoirs sont conservés pendant leur durée légale. Pour \
                             confirmer, suivez le lien (valable {hours} heures, une seule fois) \
                             ou collez ce code dans votre espace client :"
                        ),
                        format!(
                            "You asked for the final closure of your account and the erasure of \
                             your personal data (right to erasure). Your invoices and credit \
                             notes are kept for their legal retention period. To confirm, follow \
                             the link (valid {hours} hours, once) or paste this code in your \
                             customer space:"
                        ),
                    ),
                    token.clone(),
                ],
                Some((
                    t("Fermer mon compte".into(), "Close my account".into()),
                    link.clone(),
                )),
                vec![t(
                    "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message : rien ne sera fermé.".into(),
                    "If you did not ask for this, ignore this message: nothing will be closed.".into(),
                )],
            ),
            SupportMail::AccountClosed => (
                t(
                    "Votre compte est fermé".into(),
                    "Your account is closed".into(),
                ),
                vec![t(
                    "Votre compte est fermé et vos données personnelles ont été effacées. Vos \
                     factures et avoirs sont conservés pendant leur durée légale de \
                     conservation. Cette adresse peut à nouveau ouvrir un compte. Ce message est \
                     le dernier que vous recevrez ; il sera effacé une fois envoyé."
                        .into(),
                    "Your account is closed and your personal data were erased. Your invoices \
                     and credit notes are kept for their legal retention period. This address \
                     may open an account again. This is the last message you will receive; it \
                     is erased once sent."
                        .into(),
                )],
                None,
                vec![],
            ),
        }
    }
}

package validate

import "fmt"

// Problem is one thing wrong with a document: a stable machine code, a French
// sentence for staff, and a short technical detail in English for operators.
// Detail may quote parser messages, which can quote the document: show it
// to staff, do not log it.
type Problem struct {
	Code   string `json:"code"`
	Text   string `json:"text"`
	Detail string `json:"detail,omitempty"`
	// Warning marks a problem that does not make the document unreliable
	// (the text layer could not be read, the type was not checked…).
	Warning bool `json:"warning,omitempty"`
}

// Problem codes. They are stored in manifests: never rename one.
const (
	ProblemEmpty             = "empty"
	ProblemTooLarge          = "too_large"
	ProblemTypeMismatch      = "type_mismatch"
	ProblemTypeExecutable    = "type_executable"
	ProblemTypeNotChecked    = "type_not_checked"
	ProblemPDFUnparseable    = "pdf_unparseable"
	ProblemPDFEncrypted      = "pdf_encrypted"
	ProblemPDFNoPages        = "pdf_no_pages"
	ProblemPDFTooManyPages   = "pdf_too_many_pages"
	ProblemPDFJavaScript     = "pdf_javascript"
	ProblemPDFLaunchAction   = "pdf_launch_action"
	ProblemPDFEmbeddedFile   = "pdf_embedded_file"
	ProblemPDFRichMedia      = "pdf_rich_media"
	ProblemPDFXFA            = "pdf_xfa"
	ProblemPDFTextUnreadable = "pdf_text_unavailable"
	ProblemImageUndecodable  = "image_undecodable"
	ProblemImageTooLarge     = "image_too_large"
	ProblemImageUnsupported  = "image_format_unsupported"
)

// docKeyPDFOwnerOnly selects the owner-password wording of pdf_encrypted.
const docKeyPDFOwnerOnly = ProblemPDFEncrypted + "/owner"

// docProblemTexts are the sentences staff read; %s/%v take the arguments given
// to problem.
var docProblemTexts = map[string]string{
	ProblemEmpty:             "Le document est vide (0 octet).",
	ProblemTooLarge:          "Le document dépasse la taille maximale autorisée (%s) : il n'a pas été vérifié.",
	ProblemTypeMismatch:      "Le contenu du fichier (%s) ne correspond pas au type annoncé (%s) : l'ouvrir avec prudence.",
	ProblemTypeExecutable:    "Le fichier est un programme ou un script exécutable : ne pas l'ouvrir.",
	ProblemTypeNotChecked:    "Ce type de document (%s) n'est pas vérifié automatiquement.",
	ProblemPDFUnparseable:    "Le PDF est endommagé ou illisible : il n'a pas pu être analysé.",
	ProblemPDFEncrypted:      "Le PDF est protégé par un mot de passe d'ouverture : il ne peut être ni lu ni vérifié. Demander une version sans mot de passe.",
	docKeyPDFOwnerOnly:       "Le PDF est chiffré (mot de passe propriétaire) : il s'ouvre sans mot de passe mais ne peut pas être vérifié entièrement.",
	ProblemPDFNoPages:        "Le PDF ne contient aucune page.",
	ProblemPDFTooManyPages:   "Le PDF compte %d pages, au-delà de la limite de %d.",
	ProblemPDFJavaScript:     "Le PDF contient du JavaScript (code exécutable) : l'ouvrir seulement dans la visionneuse de l'application.",
	ProblemPDFLaunchAction:   "Le PDF contient une action qui lance un programme ou ouvre un fichier (/Launch) : ne pas l'ouvrir dans un lecteur PDF de bureau.",
	ProblemPDFEmbeddedFile:   "Le PDF contient des fichiers incorporés (pièces jointes cachées dans le PDF) : ils n'ont pas été vérifiés.",
	ProblemPDFRichMedia:      "Le PDF contient du contenu multimédia actif (RichMedia, Flash).",
	ProblemPDFXFA:            "Le PDF contient un formulaire dynamique XFA, qui peut s'afficher différemment selon le lecteur.",
	ProblemPDFTextUnreadable: "Le texte du PDF n'a pas pu être extrait : la recherche automatique des justificatifs n'a pas porté sur ce document.",
	ProblemImageUndecodable:  "L'image est tronquée ou endommagée : elle n'a pas pu être décodée.",
	ProblemImageTooLarge:     "L'image fait %.0f mégapixels, au-delà de la limite de %.0f : elle n'a pas été décodée.",
	ProblemImageUnsupported:  "Format d'image %s : il ne peut pas être vérifié automatiquement. L'ouvrir avec un logiciel compatible ou demander une version JPEG ou PDF.",
}

// docWarnings are the codes that do not make a document unreliable.
var docWarnings = map[string]bool{
	ProblemTypeNotChecked:    true,
	ProblemPDFTextUnreadable: true,
}

// problem builds a Problem; args fill the French sentence.
func docProblem(code, detail string, args ...any) Problem {
	text := docProblemTexts[code]
	if len(args) > 0 {
		text = fmt.Sprintf(text, args...)
	}
	stored := code
	if code == docKeyPDFOwnerOnly {
		stored = ProblemPDFEncrypted // same code, owner-only wording
	}
	return Problem{Code: stored, Text: text, Detail: guardShorten(detail, 200), Warning: docWarnings[code]}
}

package mail

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sesv2/types"
)

// SES sends through the Amazon SES v2 API with the node's role (which the
// stack allows to send from the configured identity only).
type SES struct {
	Client *sesv2.Client
	From   string // an address of a verified SES identity
}

// NewSES builds the sender from an AWS configuration.
func NewSES(cfg aws.Config, from string) SES {
	return SES{Client: sesv2.NewFromConfig(cfg), From: from}
}

// Send delivers m as a simple (SES-formatted) message.
func (s SES) Send(ctx context.Context, m Message) error {
	utf8 := aws.String("UTF-8")
	_, err := s.Client.SendEmail(ctx, &sesv2.SendEmailInput{
		FromEmailAddress: aws.String(s.From),
		Destination:      &types.Destination{ToAddresses: []string{m.To}},
		Content: &types.EmailContent{Simple: &types.Message{
			Subject: &types.Content{Data: aws.String(m.Subject), Charset: utf8},
			Body: &types.Body{
				Text: &types.Content{Data: aws.String(m.Text), Charset: utf8},
				Html: &types.Content{Data: aws.String(m.HTML), Charset: utf8},
			},
		}},
	})
	if err != nil {
		return fmt.Errorf("ses send: %w", err)
	}
	return nil
}
